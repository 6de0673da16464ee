#!/usr/bin/env bash
# A private Docker daemon for the tests that need a daemon to die: in its
# own network namespace, with its own socket, data root, exec root,
# pidfile, config file, containerd namespace and cgroup parent. The
# machine's own daemon (and its docker0) is never touched.
#
#   dockerd.sh start NAME   start (or keep) daemon NAME; prints its socket URL
#   dockerd.sh kill NAME    SIGKILL its dockerd (containers keep running)
#   dockerd.sh stop NAME    stop it and remove everything it made
#
# Why a namespace: a dockerd in the host's namespace deletes the host's
# docker0 when it starts with --bridge none, and — seen here with 20.10 —
# when it is started again after a SIGKILL, whatever bridge it was given.
# In its own namespace the docker0 it makes and removes is its own.
# `ip netns exec` remounts /sys, which hides /sys/fs/cgroup: the host's
# cgroup hierarchies are mounted again inside. Its own --config-file
# (not /etc/docker/daemon.json) and key path (not the host's engine ID).
set -euo pipefail

name=${2:?usage: dockerd.sh start|kill|stop NAME}
ns=adt-$name
base=/run/agile-deck-test/$name
data=/var/lib/agile-deck-test/$name
sock=$base/docker.sock

pid_of() { [[ -s $base/dockerd.pid ]] && kill -0 "$(cat "$base/dockerd.pid")" 2>/dev/null && cat "$base/dockerd.pid"; }
answers() { docker -H "unix://$sock" version >/dev/null 2>&1; }
ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$ns"; }
cgroup_mounts() { awk '$3=="cgroup"||$3=="cgroup2"{print $2, $3, $4}' /proc/self/mounts; }

start() {
	mkdir -p "$base" "$data"
	if pid_of >/dev/null && answers; then echo "unix://$sock"; return; fi
	ns_exists || ip netns add "$ns"
	ip -n "$ns" link set lo up
	printf '{"deprecated-key-path": "%s"}\n' "$data/key.json" >"$data/daemon.json"
	setsid ip netns exec "$ns" env ADT_CG="$(cgroup_mounts)" sh -c '
		mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
		echo "$ADT_CG" | while read -r p t o; do mkdir -p "$p"; mount -t "$t" -o "$o" "$t" "$p"; done
		exec "$@"' sh \
		dockerd --config-file "$data/daemon.json" \
		--data-root "$data/root" --exec-root "$base/exec" --pidfile "$base/dockerd.pid" \
		-H "unix://$sock" \
		--cgroup-parent "/adt-$name" \
		--containerd-namespace "adt-$name" --containerd-plugins-namespace "adt-$name-plugins" \
		</dev/null >>"$data/dockerd.log" 2>&1 &
	for _ in $(seq 1 300); do
		answers && { echo "unix://$sock"; return; }
		sleep 0.1
	done
	echo "dockerd $name did not answer; its log:" >&2
	tail -n 20 "$data/dockerd.log" >&2
	exit 1
}

# Everything left of node NAME: processes in its namespace (containerd,
# shims) and under its cgroup parent (the containers).
leftovers() {
	ns_exists && ip netns pids "$ns" 2>/dev/null
	find /sys/fs/cgroup/pids/adt-"$name" -name cgroup.procs -exec cat {} + 2>/dev/null
	return 0
}

case $1 in
start) start ;;
kill)
	pid=$(pid_of) || { echo "dockerd $name is not running" >&2; exit 1; }
	kill -KILL "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	;;
stop)
	if answers; then
		ids=$(docker -H "unix://$sock" ps -aq)
		[[ -z $ids ]] || docker -H "unix://$sock" rm -f $ids >/dev/null 2>&1 || true
	fi
	if pid=$(pid_of); then
		kill -TERM "$pid"
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	for sig in TERM KILL; do
		for p in $(leftovers); do kill -s "$sig" "$p" 2>/dev/null || true; done
		for _ in $(seq 1 30); do [[ -z $(leftovers) ]] && break; sleep 0.1; done
	done
	grep -E " ($base|$data)" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	ns_exists && ip netns del "$ns"
	rm -rf "$base" "$data"
	;;
*) echo "usage: dockerd.sh start|kill|stop NAME" >&2; exit 2 ;;
esac
