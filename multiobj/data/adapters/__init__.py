"""Adapters of the real datasets: one module per dataset folder.

Each module reads one folder of the data directory (`DataConfig.data_dir`:
$MULTIOBJ_DATA, else ../shared/data) with `load(data_dir, seed)`;
`multiobj.data.loaders` registers them under their `NAME`. The data never
enters the repository.

  ml-100k               movielens.py  ratings: watched, like, rating
  deca_ml100k           deca.py       DeCA's noisy implicit ML-100K
  taobao_multibehavior  taobao.py     cart and purchase, ids only
  kuairand_sample       kuairand.py   click and dwell (200 rows)
  ali_ccp_sample        ali_ccp.py    click and purchase (200 rows)
  otto_sample           otto.py       click, cart, order (20 sessions)
  mind_sample           mind.py       news clicks (8,000 rows)
"""
