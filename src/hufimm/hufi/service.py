"""The HuFi capability assembled: clients, campaign sync, joiner, score estimator, reconciler.

:class:`HufiService` is built once by the composition root from the ``hufi`` settings and
:meth:`HufiService.register` puts its jobs on the clock and its estimator on the outbox.  The
jobs run in name order inside the JOBS phase: ``hufi.campaigns`` (sync), ``hufi.join``,
``hufi.scores``.  A job whose services fail backs off (jittered, growing) and reports it in
:meth:`health`; it never stops the clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from hufimm.core.clock import Clock, Health, HealthStatus
from hufimm.core.logs import get_logger
from hufimm.core.metrics import Metrics
from hufimm.core.rng import SeededRng
from hufimm.core.timesource import TimeSource
from hufimm.hufi.auth import TokenStore, WalletSession
from hufimm.hufi.backoff import JobBackoff
from hufimm.hufi.errors import HufiError
from hufimm.hufi.estimator import ScoreEstimator
from hufimm.hufi.joiner import Joiner, KeyInspector, SafetyGate
from hufimm.hufi.launcher import CampaignLauncherClient
from hufimm.hufi.oracle import RecordingOracleClient
from hufimm.hufi.reconcile import ScoreReconciler
from hufimm.hufi.secretbox import SecretBox
from hufimm.hufi.settings import HufiSettings
from hufimm.hufi.signing import WalletSigner
from hufimm.hufi.sync import CampaignSync
from hufimm.hufi.token_store import DbTokenStore
from hufimm.hufi.transport import HufiHttp, RetryPolicy
from hufimm.store.db import Database
from hufimm.store.outbox import OutboxDispatcher


class HufiService:
    def __init__(
        self,
        settings: HufiSettings,
        db: Database,
        time: TimeSource,
        rng: SeededRng,
        metrics: Metrics,
        *,
        launcher_transport: httpx.AsyncBaseTransport | None = None,
        oracle_transport: httpx.AsyncBaseTransport | None = None,
        key_inspector: KeyInspector | None = None,
    ) -> None:
        self.settings = settings
        self._time = time
        self._rng = rng
        self._log = get_logger("hufi")
        retry = RetryPolicy(attempts=settings.request_attempts)
        self._https = [
            HufiHttp(
                url,
                service=name,
                time=time,
                rng=rng.child(f"hufi-{name}"),
                metrics=metrics,
                timeout_s=settings.request_timeout_s,
                retry=retry,
                transport=transport,
            )
            for name, url, transport in (
                ("launcher", settings.launcher_url, launcher_transport),
                ("oracle", settings.oracle_url, oracle_transport),
            )
        ]
        self.launcher = CampaignLauncherClient(self._https[0])
        self.oracle: RecordingOracleClient | None = None
        wallet: str | None = None
        if settings.wallet_private_key is not None:
            signer = WalletSigner(settings.wallet_private_key)
            wallet = signer.address
            store: TokenStore | None = None
            if settings.secrets_key is not None:
                store = DbTokenStore(db, SecretBox(settings.secrets_key), time)
            session = WalletSession(self._https[1], signer, time=time, metrics=metrics, store=store)
            self.oracle = RecordingOracleClient(self._https[1], session)
        self.wallet = wallet
        self.sync = CampaignSync(
            db,
            self.launcher,
            time,
            metrics,
            chains=settings.chains,
            markets=settings.markets,
            wallet=wallet,
            page_size=settings.page_size,
        )
        self.estimator = ScoreEstimator(settings.markets, wallet)
        self.joiner: Joiner | None = None
        self.reconciler: ScoreReconciler | None = None
        if self.oracle is not None:
            self.joiner = Joiner(
                db, self.oracle, self.launcher, time, metrics, settings, SafetyGate(key_inspector)
            )
            self.reconciler = ScoreReconciler(
                db, self.oracle, time, metrics, tolerance=settings.score_tolerance
            )
        self._backoffs: dict[str, JobBackoff] = {}
        self._m_failures = metrics.counter(
            "hufi_job_failures_total", "HuFi job runs that failed and backed off", ["job"]
        )

    def register(self, clock: Clock, outbox: OutboxDispatcher) -> None:
        outbox.subscribe(self.estimator)
        s = self.settings
        clock.schedule(
            "hufi.campaigns",
            s.sync_interval_s,
            self._job("hufi.campaigns", s.sync_interval_s, self.sync.sync_once),
        )
        if self.joiner is not None and s.auto_join:
            clock.schedule(
                "hufi.join",
                s.join_interval_s,
                self._job("hufi.join", s.join_interval_s, self.joiner.run_once),
            )
        if self.reconciler is not None:
            clock.schedule(
                "hufi.scores",
                s.score_check_interval_s,
                self._job("hufi.scores", s.score_check_interval_s, self.reconciler.run_once),
            )

    def _job(
        self, name: str, interval_s: float, work: Callable[[], Awaitable[object]]
    ) -> Callable[[int], Awaitable[None]]:
        backoff = JobBackoff(
            self._rng.child(name), base_s=interval_s, max_s=max(3600.0, 8 * interval_s)
        )
        self._backoffs[name] = backoff

        async def run(ts: int) -> None:
            now = self._time.time_ns()
            if not backoff.due(now):
                return
            try:
                await work()
            except HufiError as exc:
                wait = backoff.failed(now, str(exc))
                self._m_failures.labels(name).inc()
                self._log.warning(
                    "hufi_job_failed", job=name, error=str(exc), retry_in_s=round(wait)
                )
            else:
                backoff.succeeded()

        return run

    def health(self) -> Health:
        failing = {name: b.last_error for name, b in self._backoffs.items() if b.failures}
        alarms = 0 if self.reconciler is None else self.reconciler.alarms
        if failing:
            return Health(HealthStatus.DEGRADED, "HuFi jobs backing off", {"failing": failing})
        if alarms:
            return Health(
                HealthStatus.DEGRADED, "score differs from the oracle", {"alarms": alarms}
            )
        return Health()

    async def aclose(self) -> None:
        for http in self._https:
            await http.aclose()
