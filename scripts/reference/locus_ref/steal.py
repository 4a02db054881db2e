"""The hypervisor's steal over a stretch of a benchmark: the share of this machine's CPU time given to
other guests, from the aggregate "cpu" line of /proc/stat (its eighth counter over the first eight),
as `locus bench` reports it (Sources/LocusDriver/StolenTime.swift). On a shared VM the same run can
take several times longer while a neighbour is busy; a table measured with high steal says more about
the neighbours than about the frameworks. None where /proc/stat cannot be read."""


def ticks():
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 9:
        return None
    return [int(v) for v in fields[1:9]]


def fraction(start, end):
    if start is None or end is None:
        return None
    delta = [b - a for a, b in zip(start, end)]
    total = sum(delta)
    return delta[7] / total if total > 0 and min(delta) >= 0 else None


def describe(share):
    return "unknown" if share is None else f"{100 * share:.0f} %"


def measured(fn):
    """fn() and the steal share over its run (None when unknown)."""
    start = ticks()
    result = fn()
    return result, fraction(start, ticks())


def clean_rounds(count, run, limit=0.05, extra=None, measure=measured):
    """Benchmark rounds that a neighbour's burst does not decide: runs run(i) for i = 0, 1, ... until
    `count` rounds saw a steal share at most `limit` (or an unknown one: nothing to go by), or until
    count + extra rounds ran (extra defaults to count). A round above the limit is discarded and run
    again. When the retries run out, the least-stolen discarded rounds make up the number.

    Returns (kept, info): the results of the `count` kept rounds in the order they ran, and a dict
    with `steal` (each kept round's share, None when unknown), `discarded` (rounds run but not kept)
    and `disturbed` (kept rounds above the limit)."""
    extra = count if extra is None else extra
    clean, stolen, attempts = [], [], 0
    while len(clean) < count and attempts < count + extra:
        result, share = measure(lambda: run(attempts))
        (stolen if share is not None and share > limit else clean).append((attempts, result, share))
        attempts += 1
    stolen.sort(key=lambda r: r[2])
    disturbed = stolen[:count - len(clean)]
    kept = sorted(clean + disturbed, key=lambda r: r[0])
    return [r[1] for r in kept], {"steal": [r[2] for r in kept], "discarded": attempts - len(kept),
                                  "disturbed": len(disturbed)}


def describe_rounds(info):
    """A table cell: "max 3 %", "max 4 %, 2 discarded", or with "1 kept above the limit"."""
    known = [s for s in info["steal"] if s is not None]
    text = f"max {describe(max(known))}" if known else "unknown"
    if info["discarded"]:
        text += f", {info['discarded']} discarded"
    if info["disturbed"]:
        text += f", {info['disturbed']} kept above the limit"
    return text
