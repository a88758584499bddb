"""Sequential gradient coding (Krishnan, Ebrahimi, Khisti, ICLR 2023): what the paper introduces, as
host NumPy, pure functions of their inputs.

Setting: jobs 0..J-1; job t (one full gradient) starts in round t and must be decoded by the end of
round t + T. T = 0 is classic gradient coding (GC, `lib.fl.clock.coding`). Jobs in flight belong to
different models (model t mod M, M >= T + 1), so a model's next job starts only after its previous
gradient was applied: the framework of training several models concurrently.

Straggler model of the design, (B, W, lambda)-bursty: in every window of W consecutive rounds at most
lambda distinct workers straggle, and each of them straggles only within a span of at most B
consecutive rounds of that window (`conforms`).

Multiplexed SGC (M-SGC, the paper's main scheme; `MSGC`): T = W - 2 + B. A job's data is split in two.
D1 goes to n (W - 1) uncoded pieces, each computed by one worker: in job-rounds k = 0..W-2 worker i
computes piece (k, i). D2 goes to B splits of n partitions, each split protected by a GC code
tolerating lambda stragglers; split q is computed in job-round W - 1 + q. A D1 piece lost to a
straggling worker is re-attempted by the same worker in one of the D2 rounds (oldest first, in place
of its GC task of that round; again later if that attempt is lost too). Pieces are sized so that
every task costs the same: a D1 piece holds lambda + 1 units, a GC partition 1 unit (the GC task
computes lambda + 1 partitions), and a job holds n ((W - 1)(lambda + 1) + B) units. In every round each
worker runs one task for each of the T + 1 jobs in flight.

Per-round load (in job gradients): GC(s) (s + 1) / n; M-SGC (T + 1)(lambda + 1) / (n ((W-1)(lambda+1) + B)).
B < W is required: with B >= W every window allows a burst over all its rounds, a worker may straggle
forever, and its lost D1 pieces would never come back.

Selective-reattempt SGC (SR-SGC, scheme 1; `SRSGC`): T = W - 1, GC with s = ceil(B lambda / (W - 1 + B))
on the whole job, re-attempts of an undecoded job's missing tasks B, 2B, ... rounds later.

The master (`simulate`) waits in each round for the workers it cannot afford to lose: it declares the
slowest workers stragglers one at a time while (i) the worker is slower than (1 + tol) times the
round's fastest, (ii) the declared history still conforms to the (B, W, lambda) model and (iii) every
job in flight can still be completed by its deadline (the GC split of this round decodes from its
responders; no worker holds more lost D1 pieces than D2 rounds remain). (iii) makes decoding exact for
every straggler pattern, conforming or not: when a pattern exceeds the design, the master waits longer.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lib.config import ConfigError
from lib.fl.clock import coding

NONE, PIECE, CODED = 0, 1, 2  # result slot kinds


def conforms(history: np.ndarray, b: int, w: int, lam: int) -> bool:
    """history [n, rounds] bool (True: straggled); checks the window of the last w rounds (the
    windows holding the newest round; earlier ones were checked when their rounds were added):
    at most lam distinct stragglers, each within a span of at most b rounds."""
    win = np.asarray(history, bool)[:, -w:]
    rows = win.any(1)
    if rows.sum() > lam:
        return False
    for row in win[rows]:
        idx = np.flatnonzero(row)
        if idx[-1] - idx[0] + 1 > b:
            return False
    return True


def check_params(n: int, b: int, w: int, lam: int, code: str) -> None:
    for name, v, lo in (("sgc.B", b, 1), ("sgc.W", w, 2), ("sgc.lam", lam, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ConfigError(f"config.{name}={v!r} must be an integer >= {lo}")
    if b >= w:
        raise ConfigError(f"config.sgc.B={b} must be < config.sgc.W={w}: with B >= W every window allows a burst "
                          "over all its rounds, so a worker may straggle forever and its lost pieces never return")
    if lam >= n:
        raise ConfigError(f"config.sgc.lam={lam} must be < num_workers={n}")
    coding.check(code, n, lam)


class MSGC:
    """The M-SGC layout and its per-job state (one instance per run)."""

    def __init__(self, n: int, b: int, w: int, lam: int, code: str = "cyclic", seed: int = 0):
        check_params(n, b, w, lam, code)
        self.n, self.b, self.w, self.lam = n, b, w, lam
        self.T = w - 2 + b
        self.piece_units = lam + 1
        self.units_per_worker = (w - 1) * (lam + 1) + b  # K: a job holds n K units
        self.units = n * self.units_per_worker
        self.d2_offset = n * (w - 1) * (lam + 1)
        self.code_kind = code
        self.code = coding.encoding(code, n, lam, seed)
        self.rows = self.n * (self.T + 1)  # result slots per job: (job-round k, worker i)
        self.nnz = lam + 1  # units per message

    def load_units(self) -> int:
        """Units one task costs (a D1 piece; a GC task: lam + 1 partitions of one unit)."""
        return self.lam + 1

    def new_job(self) -> dict:
        return {"pending": [[] for _ in range(self.n)],  # lost D1 pieces per worker, oldest first
                "got": np.zeros(self.n * (self.w - 1), bool),
                "kind": np.zeros(self.rows, np.int8), "arg": np.zeros(self.rows, np.int32),
                "coef": np.zeros(self.rows, np.float64)}

    def tasks(self, job: dict, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(kind [n], arg [n]) of job-round k: PIECE with piece index, or CODED with split index."""
        n = self.n
        if k < self.w - 1:
            return np.full(n, PIECE, np.int8), (k * n + np.arange(n)).astype(np.int32)
        q = k - (self.w - 1)
        kind, arg = np.full(n, CODED, np.int8), np.full(n, q, np.int32)
        for i in range(n):
            if job["pending"][i]:
                kind[i], arg[i] = PIECE, job["pending"][i][0]
        return kind, arg

    def feasible(self, job: dict, k: int, kind: np.ndarray, arg: np.ndarray, lost: np.ndarray) -> bool:
        """Whether the job can still finish by its deadline if the workers `lost` [n] bool fail now."""
        d2_left = self.T - k if k >= self.w - 1 else self.b  # D2 rounds after this one
        for i in range(self.n):
            p = len(job["pending"][i])  # lost D1 pieces after this round
            if kind[i] == PIECE and lost[i] and k < self.w - 1:
                p += 1
            if kind[i] == PIECE and not lost[i] and k >= self.w - 1:
                p -= 1
            if p > d2_left:
                return False
        if k >= self.w - 1:
            alive = (kind == CODED) & ~lost
            return coding.tolerated(self.code_kind, self.n, self.lam, alive)
        return True

    def record(self, job: dict, k: int, kind: np.ndarray, arg: np.ndarray, lost: np.ndarray) -> None:
        """Results of job-round k: slot k n + i holds worker i's message (coef 0 if lost)."""
        n = self.n
        sl = slice(k * n, (k + 1) * n)
        job["kind"][sl], job["arg"][sl] = kind, arg
        for i in range(n):
            if kind[i] != PIECE:
                continue
            piece = int(arg[i])
            if lost[i]:
                if k < self.w - 1:
                    job["pending"][i].append(piece)
            else:
                job["coef"][k * n + i] = 1.0
                job["got"][piece] = True
                if k >= self.w - 1:
                    job["pending"][i].pop(0)
        if k >= self.w - 1:
            alive = (kind == CODED) & ~lost
            a = coding.decoding_vector(self.code, alive)
            job["coef"][sl] += np.where(kind == CODED, a, 0.0)

    def done(self, job: dict) -> bool:
        return bool(job["got"].all())

    def encoding_rows(self, kind: np.ndarray, arg: np.ndarray, dtype=np.float32) -> np.ndarray:
        """E [rows, units]: each result slot's message as a combination of the job's units."""
        e = np.zeros((len(kind), self.units), dtype)
        for r in np.flatnonzero(kind == PIECE):
            s = int(arg[r]) * self.piece_units
            e[r, s:s + self.piece_units] = 1.0
        for r in np.flatnonzero(kind == CODED):
            i, q = r % self.n, int(arg[r])
            s = self.d2_offset + q * self.n
            e[r, s:s + self.n] = self.code[i]
        return e


class GC:
    """Classic gradient coding (T = 0) over the same units: partition p = units [p K, (p + 1) K)."""

    def __init__(self, n: int, s: int, code: str, units_per_worker: int, seed: int = 0):
        coding.check(code, n, s)
        self.n, self.s, self.T, self.code_kind = n, s, 0, code
        self.code = coding.encoding(code, n, s, seed)
        self.units_per_worker = units_per_worker
        self.units = n * units_per_worker
        self.rows = n
        self.nnz = int((self.code != 0).sum(1).max()) * units_per_worker

    def load_units(self) -> int:
        return (self.s + 1) * self.units_per_worker

    def decodes(self, lost: np.ndarray) -> bool:
        return coding.tolerated(self.code_kind, self.n, self.s, ~lost)

    def coefficients(self, lost: np.ndarray) -> np.ndarray:
        return coding.decoding_vector(self.code, ~lost)

    def encoding_rows(self, dtype=np.float32) -> np.ndarray:
        return np.kron(self.code, np.ones((1, self.units_per_worker))).astype(dtype)


class SRSGC:
    """Scheme 1, GC with selective re-attempts (SR-SGC), T = W - 1: job t is coded by GC(s) with
    s = ceil(B lambda / (W - 1 + B)) < lambda and computed by every worker in round t; if the master
    cannot decode it, the workers whose messages are missing re-attempt their tasks of job t in round
    t + B (only as many as decoding needs, lowest id first, oldest job first), again in t + 2B, ...
    up to t + T, in place of their task of the new job. A job completes in the first round it decodes.
    Partitions are K units each (the GC layout), so every task costs (s + 1) K units."""

    def __init__(self, n: int, b: int, w: int, lam: int, code: str, units_per_worker: int, seed: int = 0):
        check_params(n, b, w, lam, code if code != "fractional" else "cyclic")
        self.n, self.b, self.w, self.lam, self.T = n, b, w, lam, w - 1
        self.s = -(-b * lam // (w - 1 + b))
        coding.check(code, n, self.s)
        self.code_kind, self.code = code, coding.encoding(code, n, self.s, seed)
        self.attempts = self.T // b + 1
        self.units_per_worker = units_per_worker
        self.units = n * units_per_worker
        self.rows = n * self.attempts  # result slots: (attempt, worker)
        self.nnz = int((self.code != 0).sum(1).max()) * units_per_worker

    def load_units(self) -> int:
        return (self.s + 1) * self.units_per_worker

    def new_job(self) -> dict:
        return {"got": np.zeros(self.n, bool), "slot": np.full(self.n, -1)}

    def decodable(self, got) -> bool:
        return coding.tolerated(self.code_kind, self.n, self.s, got)

    def assign(self, r: int, jobs: dict, new_job: int | None) -> np.ndarray:
        """[n] the job each worker computes in round r (-1: idle)."""
        out = np.full(self.n, -1 if new_job is None else new_job)
        free = np.ones(self.n, bool)
        for j in sorted(jobs):
            if j == r or (r - j) % self.b or r - j > self.T or self.decodable(jobs[j]["got"]):
                continue
            got = jobs[j]["got"].copy()
            for i in np.flatnonzero(~got & free):
                if self.decodable(got):
                    break
                got[i], out[i], free[i] = True, j, False
        return out

    def feasible(self, jobs: dict, r: int, work: np.ndarray, lost: np.ndarray) -> bool:
        """Every job worked on now whose last attempt this is still decodes."""
        for j in np.unique(work[work >= 0]):
            if r + self.b > j + self.T and not self.decodable(jobs[j]["got"] | ((work == j) & ~lost)):
                return False
        return True

    def record(self, jobs: dict, r: int, work: np.ndarray, lost: np.ndarray) -> list[int]:
        """Stores round r's messages; returns the jobs that decode now."""
        done = []
        for j in np.unique(work[work >= 0]):
            job = jobs[int(j)]
            ok = (work == j) & ~lost & ~job["got"]
            job["slot"][ok] = (r - j) // self.b
            job["got"] |= ok
            if self.decodable(job["got"]):
                done.append(int(j))
        return done

    def finish(self, job: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        kind = np.zeros(self.rows, np.int8)
        coef = np.zeros(self.rows)
        a = coding.decoding_vector(self.code, job["got"])
        for i in np.flatnonzero(job["got"]):
            kind[job["slot"][i] * self.n + i] = CODED
            coef[job["slot"][i] * self.n + i] = a[i]
        return kind, np.zeros(self.rows, np.int32), coef

    def encoding_rows(self, kind, arg, dtype=np.float32) -> np.ndarray:
        row = np.kron(self.code, np.ones((1, self.units_per_worker)))
        return np.tile(row, (self.attempts, 1)).astype(dtype)


class Rounds(NamedTuple):
    """A whole run's schedule. Per round r: end time, declared stragglers, workers' finish times.
    Per job j: the round and time it completes, and its result slots (kind, arg, coef)."""

    round_end: np.ndarray  # [R] float64, cumulative virtual seconds
    stragglers: np.ndarray  # [R, n] bool, declared by the master
    slow: np.ndarray  # [R, n] bool, in the Gilbert-Elliott bad state
    finish: np.ndarray  # [R, n] float64, seconds after the round's start
    job_round: np.ndarray  # [J] int
    job_time: np.ndarray  # [J] float64
    kind: np.ndarray  # [J, rows] int8
    arg: np.ndarray  # [J, rows] int32
    coef: np.ndarray  # [J, rows] float64


MASTERS = ("design", "feasible")


def simulate(mode: str, scheme, num_jobs: int, worker_time, tol: float = 0.0, design=None,
             master: str = "design") -> Rounds:
    """Runs the master's rounds. worker_time(r, units [n], messages) -> (finish [n] seconds after the
    round starts, slow [n] bool) for workers computing `units` units and sending `messages` results.
    mode: uncoded | gc (scheme = GC; uncoded is GC with s = 0) | sgc (scheme = MSGC) | srsgc (scheme =
    SRSGC); design = (B, W, lam) for sgc and srsgc. uncoded / gc: the master waits until the responders decode (GC: the fastest n - s).
    sgc / srsgc master: `design` declares stragglers only while the history conforms to (B, W, lam) and every
    job stays feasible (the paper's rule); `feasible` drops the conformity check (ours: any pattern
    the scheme can still decode by the deadlines)."""
    n, T = scheme.n, scheme.T
    num_rounds = num_jobs + T
    end = np.zeros(num_rounds)
    declared = np.zeros((num_rounds, n), bool)
    slow_all = np.zeros((num_rounds, n), bool)
    fin_all = np.zeros((num_rounds, n))
    job_round = np.full(num_jobs, -1, np.int64)
    kinds = np.zeros((num_jobs, scheme.rows), np.int8)
    args = np.zeros((num_jobs, scheme.rows), np.int32)
    coefs = np.zeros((num_jobs, scheme.rows))
    jobs: dict[int, dict] = {}
    t = 0.0
    for r in range(num_rounds):
        live = [j for j in range(max(0, r - T), min(r, num_jobs - 1) + 1)]
        if mode == "sgc":
            for j in live:
                jobs.setdefault(j, scheme.new_job())
            plans = {j: scheme.tasks(jobs[j], r - j) for j in live}
        if mode == "srsgc":
            if r < num_jobs:
                jobs[r] = scheme.new_job()
            work = scheme.assign(r, jobs, r if r < num_jobs else None)
            fin, slow = worker_time(r, np.where(work >= 0, scheme.load_units(), 0), 1)
            fin = np.where(work >= 0, fin, 0.0)  # idle workers (tail rounds) are not waited for
        else:
            fin, slow = worker_time(r, np.full(n, len(live) * scheme.load_units()), len(live))
        lost = np.zeros(n, bool)
        if mode in ("uncoded", "gc"):
            for i in np.argsort(-fin, kind="stable"):  # the slowest first, as long as the rest decode
                trial = lost.copy()
                trial[i] = True
                if not scheme.decodes(trial):
                    break
                lost = trial
        else:
            bw, ww, lam = design
            fastest = fin.min()
            for i in np.argsort(-fin, kind="stable"):
                if not fin[i] > (1.0 + tol) * fastest:
                    break
                trial = lost.copy()
                trial[i] = True
                hist = np.concatenate([declared[max(0, r - ww + 1):r].T, trial[:, None]], 1)
                if master == "design" and not conforms(hist, bw, ww, lam):
                    break
                if mode == "sgc" and not all(scheme.feasible(jobs[j], r - j, *plans[j], trial) for j in live):
                    break
                if mode == "srsgc" and not scheme.feasible(jobs, r, work, trial):
                    break
                lost = trial
        wait = fin[~lost].max() if (~lost).any() else 0.0
        t += wait
        end[r], declared[r], slow_all[r], fin_all[r] = t, lost, slow, fin
        if mode == "sgc":
            for j in live:
                scheme.record(jobs[j], r - j, *plans[j], lost)
                if r - j == T:
                    job = jobs.pop(j)
                    if not scheme.done(job):
                        raise RuntimeError(f"job {j} is incomplete at its deadline (round {r}): a bug")
                    job_round[j], kinds[j], args[j], coefs[j] = r, job["kind"], job["arg"], job["coef"]
        elif mode == "srsgc":
            for j in scheme.record(jobs, r, work, lost):
                job_round[j] = r
                kinds[j], args[j], coefs[j] = scheme.finish(jobs.pop(j))
            stale = [j for j in jobs if r >= j + T]
            if stale:
                raise RuntimeError(f"jobs {stale} are not decoded at their deadline (round {r}): a bug")
        else:
            j = r
            job_round[j] = r
            kinds[j], args[j] = CODED, 0
            coefs[j] = scheme.coefficients(lost)
    return Rounds(end, declared, slow_all, fin_all, job_round, end[job_round], kinds, args, coefs)


def sparse_rows(e: np.ndarray, nnz: int) -> tuple[np.ndarray, np.ndarray]:
    """E [rows, units] -> (idx [rows, nnz] int32, val [rows, nnz] float32): each row's nonzeros, padded
    with (0, 0.0); E[r] = sum_k val[r, k] e_{idx[r, k]}."""
    idx = np.zeros((e.shape[0], nnz), np.int32)
    val = np.zeros((e.shape[0], nnz), np.float32)
    for r, row in enumerate(e):
        nz = np.flatnonzero(row)
        if nz.size > nnz:
            raise ValueError(f"row {r} has {nz.size} nonzeros, more than nnz={nnz}")
        idx[r, :nz.size], val[r, :nz.size] = nz, row[nz]
    return idx, val


def job_matrices(mode: str, scheme, rounds: Rounds, j: int, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """(E [rows, units] float32, a [rows] float64) of job j: the decoded gradient is a^T E G, G the
    units' gradients; a^T E = 1^T (every unit once) up to float rounding."""
    if mode in ("sgc", "srsgc"):
        return scheme.encoding_rows(rounds.kind[j], rounds.arg[j], dtype), rounds.coef[j]
    return scheme.encoding_rows(dtype), rounds.coef[j]
