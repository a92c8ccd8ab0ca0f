"""The load test's report: Markdown with PNG plots (matplotlib), from Locust's CSV files, the ramp's
steps, the memory samples and the audit's verdicts."""

from __future__ import annotations

import csv
import json
import os
import platform
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.loadtest.memory import MemorySampler
from shop.audit.load import AuditReport

NAME = "loadtest"
MEMORY_BUDGET = 1.5 * 2**30
MIB = 2**20


@dataclass
class Run:
    phases: dict[str, Any]
    history: list[dict[str, str]]  # Locust's stats history (one row per endpoint per second)
    stats: list[dict[str, str]]  # the hold's figures per endpoint
    failures: int
    failure_rows: list[dict[str, str]]
    designed: dict[str, int]
    idle: dict[str, int]
    memory: MemorySampler
    load_started: float
    audit: AuditReport
    embedded: bool
    redis: bool

    @classmethod
    def read(
        cls,
        work: Path,
        idle: dict[str, int],
        memory: MemorySampler,
        load_started: float,
        audit: AuditReport,
        embedded: bool,
        redis: bool,
    ) -> Run:
        phases = _json(work / "phases.json")
        stats = _csv(work / "locust_stats.csv")
        failure_rows = _csv(work / "locust_failures.csv")
        ramp_failures = sum(step["failures"] for step in phases.get("steps", []))
        hold_failures = sum(int(row["Failure Count"]) for row in stats if row["Name"] == "Aggregated")
        return cls(
            phases, _csv(work / "locust_stats_history.csv"), stats, ramp_failures + hold_failures,
            failure_rows, _json(work / "designed.json"), idle, memory, load_started, audit, embedded, redis,
        )  # fmt: skip


def _json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    return data


def _csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open() as file:
        return list(csv.DictReader(file))


def write_report(run: Run, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    plots = [_plot_load(run, out), _plot_latency(run, out), _plot_endpoints(run, out), _plot_memory(run, out)]
    path = out / f"{NAME}.md"
    path.write_text("\n".join([*_text(run), *(f"![{title}]({file})" for title, file in plots), ""]))
    return path


# -- text --------------------------------------------------------------------------------------------


def _text(run: Run) -> list[str]:
    phases = run.phases
    hold_users = phases.get("hold_users")
    knee = phases.get("knee_users")
    steps = phases.get("steps", [])
    knee_step = next((step for step in steps if step["users"] == knee), None)
    aggregated = next((row for row in run.stats if row["Name"] == "Aggregated"), None)
    lines = [
        "# Load test: the whole shop under a realistic mix",
        "",
        f"Run {datetime.fromtimestamp(run.load_started, UTC):%Y-%m-%d %H:%M} UTC by `make loadtest` "
        "(`python -m bench.loadtest`); this file and its plots are what it wrote.",
        "",
        "## The machine and the stack",
        "",
        *_machine(run),
        "",
        "## The knee",
        "",
        _knee_sentence(phases, knee, knee_step, hold_users),
        "",
        "| shoppers | requests/s | p95 ms (last part of the step) | failures |",
        "|---:|---:|---:|---:|",
        *(
            f"| {step['users']} | {step['requests_per_s']:.1f} | {step['p95_ms']:.0f} | {step['failures']} |"
            for step in steps
        ),
        "",
        f"## The hold: {hold_users} shoppers (+ the admin) for {_hold_seconds(run):.0f} s",
        "",
        _hold_sentence(aggregated),
        "",
        "| endpoint | requests | requests/s | p50 ms | p95 ms | p99 ms | max ms | failures |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {row['Name']} | {row['Request Count']} | {float(row['Requests/s']):.2f} "
            f"| {row['50%']} | {row['95%']} | {row['99%']} | {float(row['Max Response Time']):.0f} "
            f"| {row['Failure Count']} |"
            for row in run.stats
        ),
        "",
        "Designed answers (counted as successes): "
        + (", ".join(f"{count} x {name}" for name, count in sorted(run.designed.items())) or "none")
        + ".",
        "",
        *_failures(run),
        "## Resident memory",
        "",
        *_memory(run),
        "",
        "## The invariant audit after the run",
        "",
        f"`shop audit-data`'s checker on the load test's database, against each product's stock before "
        f"the load: **{'every invariant holds' if run.audit.ok else 'an invariant FAILS'}**.",
        "",
        "| invariant | verdict | checked | statement |",
        "|---|---|---:|---|",
        *(
            f"| {verdict.name} | {verdict.status} | {verdict.checked} | {verdict.statement} |"
            for verdict in run.audit.verdicts
        ),
        "",
    ]
    return lines


def _machine(run: Run) -> list[str]:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = next(
        (
            int(line.split()[1]) * 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if "MemTotal" in line
        ),
        0,
    )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return [
        f"- {os.cpu_count()} virtual CPUs ({model}), {memory / 2**30:.1f} GiB of memory, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}.",
        "- **Shared**: other engineers' test suites ran on the same 2 cores during the run (load average "
        f"at the end: {load}), and the load generator (Locust, one process) ran there too, beside the "
        "gateway, the four services, the database and Redis. Figures compare changes on this machine; "
        "they are not the capacity of a production deployment.",
        f"- The stack of `make run`: {'the embedded database (SecantusDB)' if run.embedded else 'MongoDB'}, "
        "the four services and the gateway, one process each; every gateway protection on "
        f"({'rate limits counted in Redis' if run.redis else 'rate limits counted in process (no Redis)'}, "
        "body, URL and header limits, security headers, the circuit breaker). All shoppers come from one "
        "address, so the per-client rate limits and in-flight cap are set out of reach (a real shop "
        "would see them as many clients); CAPTCHA is off, as in the default configuration.",
        "- The mix, per shopper task: browsing and search 70% (newest, category with a sort, search by "
        "a typed prefix, product by id, next page), cart 15%, checkout and sandbox payment 10% (1-2 "
        "of 40 popular products), login and refresh 5%; one admin refunds a tenth of paid payments and "
        "restocks the popular products in the background. Each shopper waits 0.5-2 s between tasks.",
    ]


def _knee_sentence(phases: dict[str, Any], knee: Any, knee_step: Any, hold_users: Any) -> str:
    limit = phases.get("p95_limit_ms", 500)
    if knee_step is None:
        return "The ramp did not finish (see the steps below)."
    why = (
        f"its p95 crossed {limit:.0f} ms or a failure appeared"
        if phases.get("crossed")
        else "the ramp reached its largest step without crossing"
    )
    return (
        f"Shoppers were added step by step; at **{knee} shoppers** ({knee_step['requests_per_s']:.1f} "
        f"requests/s, p95 {knee_step['p95_ms']:.0f} ms) {why}: that is the knee. The hold ran at 80% "
        f"of it, {hold_users} shoppers."
    )


def _hold_sentence(aggregated: dict[str, str] | None) -> str:
    if aggregated is None:
        return "No hold figures (the run stopped early)."
    return (
        f"**{float(aggregated['Requests/s']):.1f} requests/s** in all, p50 {aggregated['50%']} ms, "
        f"p95 {aggregated['95%']} ms, p99 {aggregated['99%']} ms, {aggregated['Failure Count']} failures "
        f"of {aggregated['Request Count']} requests."
    )


def _hold_seconds(run: Run) -> float:
    started, done = run.phases.get("hold_started_at"), run.phases.get("done_at")
    return float(done) - float(started) if started and done else 0.0


def _failures(run: Run) -> list[str]:
    rows = [*run.phases.get("ramp_errors", []), *run.failure_rows]
    if not rows:
        return ["No answer other than 2xx, 409 and 429 was seen, in the ramp or the hold.", ""]
    lines = [f"**Unexpected answers: {run.failures}** (each a failure of the run):", ""]
    for row in rows:
        name = row.get("name") or f"{row.get('Method', '')} {row.get('Name', '')}"
        error = row.get("error") or row.get("Error", "")
        lines.append(f"- {row.get('occurrences') or row.get('Occurrences')} x {name}: `{error[:200]}`")
    return [*lines, ""]


def _memory(run: Run) -> list[str]:
    peak = run.memory.peak(since=run.load_started)
    names = list(run.idle)
    lines = [
        "| process | idle MiB | peak under load MiB |",
        "|---|---:|---:|",
        *(f"| {name} | {run.idle[name] / MIB:.0f} | {peak.get(name, 0) / MIB:.0f} |" for name in names),
        f"| **the stack** | {sum(run.idle.values()) / MIB:.0f} | {peak['stack'] / MIB:.0f} |",
        "",
        f"The stack's peak is {peak['stack'] / MIB:.0f} MiB, "
        f"{'under' if peak['stack'] < MEMORY_BUDGET else 'OVER'} the 1.5 GiB budget "
        "(each process counted with the processes below it; Redis is shared and not counted).",
    ]
    return lines


# -- plots ---------------------------------------------------------------------------------------------


def _series(run: Run, name: str, column: str) -> tuple[list[float], list[float]]:
    times, values = [], []
    for row in run.history:
        if row["Name"] == name and row[column] not in ("N/A", ""):
            times.append(float(row["Timestamp"]) - run.load_started)
            values.append(float(row[column]))
    return times, values


def _marks(run: Run, axis: Any) -> None:
    hold = run.phases.get("hold_started_at")
    if hold is not None:
        axis.axvline(
            float(hold) - run.load_started,
            color="grey",
            linestyle="--",
            linewidth=1,
            label="knee: the hold starts",
        )


def _save(figure: Any, out: Path, name: str) -> str:
    figure.tight_layout()
    file = f"{NAME}-{name}.png"
    figure.savefig(out / file, dpi=90)
    plt.close(figure)
    return file


def _plot_load(run: Run, out: Path) -> tuple[str, str]:
    figure, axis = plt.subplots(figsize=(9, 4))
    axis.plot(*_series(run, "Aggregated", "Requests/s"), label="requests/s")
    axis.plot(*_series(run, "Aggregated", "Failures/s"), label="failures/s", color="red")
    users = axis.twinx()
    users.plot(*_series(run, "Aggregated", "User Count"), color="black", linewidth=1, label="users")
    users.set_ylabel("users")
    _marks(run, axis)
    axis.set_xlabel("seconds")
    axis.set_ylabel("per second")
    axis.legend(loc="upper left")
    axis.set_title("Throughput and users")
    return "Throughput and users over time", _save(figure, out, "throughput")


def _plot_latency(run: Run, out: Path) -> tuple[str, str]:
    figure, axis = plt.subplots(figsize=(9, 4))
    for column in ("50%", "95%", "99%"):
        axis.plot(*_series(run, "Aggregated", column), label=f"p{column[:-1]}")
    axis.axhline(run.phases.get("p95_limit_ms", 500), color="red", linestyle=":", label="p95 limit")
    _marks(run, axis)
    axis.set_xlabel("seconds")
    axis.set_ylabel("ms")
    axis.set_yscale("log")
    axis.legend(loc="upper left")
    axis.set_title("Latency of all requests")
    return "Latency percentiles over time", _save(figure, out, "latency")


def _plot_endpoints(run: Run, out: Path) -> tuple[str, str]:
    names = sorted({row["Name"] for row in run.history} - {"Aggregated"})
    figure, (rates, p95) = plt.subplots(2, 1, figsize=(10, 8), sharex=True)
    for name in names:
        rates.plot(*_series(run, name, "Requests/s"), label=name, linewidth=1)
        p95.plot(*_series(run, name, "95%"), label=name, linewidth=1)
    for axis in (rates, p95):
        _marks(run, axis)
    rates.set_ylabel("requests/s")
    rates.set_title("Per endpoint")
    p95.set_ylabel("p95 ms")
    p95.set_yscale("log")
    p95.set_xlabel("seconds")
    rates.legend(fontsize=7, ncol=2, loc="upper left")
    return "Throughput and p95 per endpoint over time", _save(figure, out, "endpoints")


def _plot_memory(run: Run, out: Path) -> tuple[str, str]:
    figure, axis = plt.subplots(figsize=(9, 4))
    per_name: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for at, values in run.memory.samples:
        for name, value in values.items():
            per_name[name].append((at - run.load_started, value / MIB))
        per_name["the stack"].append((at - run.load_started, sum(values.values()) / MIB))
    for name, points in per_name.items():
        axis.plot([t for t, _ in points], [v for _, v in points], label=name)
    axis.axhline(MEMORY_BUDGET / MIB, color="red", linestyle=":", label="1.5 GiB")
    _marks(run, axis)
    axis.set_xlabel("seconds")
    axis.set_ylabel("MiB resident")
    axis.legend(fontsize=8, loc="upper left")
    axis.set_title("Resident memory")
    return "Resident memory per process over time", _save(figure, out, "memory")
