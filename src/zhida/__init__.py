"""zhida (政策直达): a Chinese government economic-policy document made executable.

Data flows one way: document (`zhida.source`) -> rules -> engine -> ledger -> web.
"""

__version__ = "0.1.0"
