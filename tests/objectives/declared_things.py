"""A module `test_registry.DeclareTest` declares and imports: it registers
one entry into the registry the test hands it."""

import tests.objectives as _package

_package.THINGS.add("made", lambda: "made")
