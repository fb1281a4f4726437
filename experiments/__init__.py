"""absl-flag scripts: each turns flags into a config and calls the library."""
