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
