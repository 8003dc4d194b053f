#!/usr/bin/env python3
"""bench/convergence/sample.py SUP_PID OUT: every 50 ms, one line on the
CLOCK_MONOTONIC clock conv_bench --trace uses: time in ms; the CPU ms
(user + system) used since the last line by each of the supervisor's role
children (store, config, control), by conv_bench (all its threads), by the
whole machine (busy, iowait); the disk's completed writes, written sectors
and flushes meanwhile (/proc/diskstats of the root disk); and the other
process that used the most CPU meanwhile (name:ms). Runs until the
supervisor is gone."""
import os, sys, time

sup, out = int(sys.argv[1]), sys.argv[2]
tck = os.sysconf("SC_CLK_TCK")
roles = ("store", "config", "control")


def procs():
    """pid -> (label, CPU ticks); label is the role, 'swarm' or the name."""
    res = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            st = open(f"/proc/{d}/stat").read()
            name = st[st.index("(") + 1:st.rindex(")")]
            fields = st[st.rindex(")") + 2:].split()
            ticks = int(fields[11]) + int(fields[12])
            label = name
            if int(fields[1]) == sup:
                argv = open(f"/proc/{d}/cmdline").read().split("\0")
                if len(argv) > 1 and argv[1] in roles:
                    label = argv[1]
            elif name == "conv_bench":
                label = "swarm"
            res[int(d)] = (label, ticks)
        except (OSError, ValueError, IndexError):
            pass
    return res


def disk():
    root = os.stat("/").st_dev
    major, minor = os.major(root), os.minor(root)
    for line in open("/proc/diskstats"):
        f = line.split()
        if int(f[0]) == major and int(f[1]) == minor:
            flushes = int(f[18]) if len(f) > 18 else 0
            return int(f[7]), int(f[9]), flushes
    return 0, 0, 0


def cpu():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(v) - v[3] - v[4], v[4]


with open(out, "w") as o:
    o.write("# t_ms store_ms config_ms control_ms swarm_ms busy_ms iowait_ms disk_writes disk_sectors "
            "disk_flushes top_other:ms\n")
    prev_p, prev_d, prev_cpu = procs(), disk(), cpu()
    while os.path.exists(f"/proc/{sup}"):
        time.sleep(0.05)
        p, d, u = procs(), disk(), cpu()
        t = time.clock_gettime(time.CLOCK_MONOTONIC) * 1000
        used = {}
        for pid, (label, ticks) in p.items():
            if pid in prev_p and prev_p[pid][0] == label:
                used[label] = used.get(label, 0) + (ticks - prev_p[pid][1]) * 1000 // tck
        cols = [used.get(r, 0) for r in roles + ("swarm",)]
        others = [(v, k) for k, v in used.items() if k not in roles + ("swarm", "python3")]
        top = max(others) if others else (0, "-")
        o.write(f"{t:.1f} {' '.join(map(str, cols))} {(u[0] - prev_cpu[0]) * 1000 // tck} "
                f"{(u[1] - prev_cpu[1]) * 1000 // tck} {d[0] - prev_d[0]} {d[1] - prev_d[1]} "
                f"{d[2] - prev_d[2]} {top[1]}:{top[0]}\n")
        o.flush()
        prev_p, prev_d, prev_cpu = p, d, u
