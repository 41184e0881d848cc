"""Market-making pools: a market the service makes, funded by users' locked orders."""

from hufimm.pools.config import StrategyConfig
from hufimm.pools.funding import FundingRefused, fund_pool
from hufimm.pools.store import Pool, PoolBudget, PoolStore

__all__ = ["FundingRefused", "Pool", "PoolBudget", "PoolStore", "StrategyConfig", "fund_pool"]
