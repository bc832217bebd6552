# Sourced by the comparisons that play an edge site on this machine
# (compare-ndvi-migration.sh, compare-mobility.sh).
#
# limit_edge PID NAME: holds process PID to EDGE_CPU of one core with a
# cgroup named NAME (cpu.cfs_quota_us on cgroup v1, cpu.max on v2) and sets
# cgroup (to remove at the end) and edge_note (what the rows say of the
# edge). Without a writable cgroup the process is only what the caller
# made it (e.g. pinned to a core), and edge_note keeps saying that.
limit_edge() {
	local pid=$1 name=$2 quota
	quota=$(awk -v c="$EDGE_CPU" 'BEGIN { printf "%d", c * 100000 }')
	if [ -w /sys/fs/cgroup/cpu ] && mkdir -p "/sys/fs/cgroup/cpu/$name" 2>/dev/null; then
		cgroup=/sys/fs/cgroup/cpu/$name
		echo 100000 >"$cgroup/cpu.cfs_period_us" && echo "$quota" >"$cgroup/cpu.cfs_quota_us" && echo "$pid" >"$cgroup/cgroup.procs" &&
			edge_note="$EDGE_CPU of core 0 (cgroup cpu quota)"
	elif [ -w /sys/fs/cgroup/cgroup.subtree_control ] && mkdir -p "/sys/fs/cgroup/$name" 2>/dev/null; then
		cgroup=/sys/fs/cgroup/$name
		echo "$quota 100000" >"$cgroup/cpu.max" && echo "$pid" >"$cgroup/cgroup.procs" &&
			edge_note="$EDGE_CPU of core 0 (cgroup cpu.max)"
	fi
}

# wait_sites BIN SERVER: waits until the edge and cloud sites are Ready.
wait_sites() {
	for _ in $(seq 100); do
		"$1" get sites --server "$2" 2>/dev/null | grep -q "edge.*Ready" && "$1" get sites --server "$2" | grep -q "cloud.*Ready" && return
		sleep 0.2
	done
}
