#!/usr/bin/env bash
# Three private Docker daemons on this machine, each in its own network
# namespace with its own address, joined into one Swarm (c1 manager, c2
# and c3 workers): the tests' cluster. The machine's own daemon is never
# used, stopped or joined.
#
#   cluster.sh up            start what is not running (idempotent), form the swarm
#   cluster.sh down          remove everything it made (idempotent, also after a crash)
#   cluster.sh load IMAGE    copy IMAGE from the machine's daemon to every node
#   cluster.sh kill NODE     SIGKILL NODE's dockerd (its containers keep running)
#   cluster.sh start NODE    start NODE's dockerd again (it rejoins by itself)
#   cluster.sh env           NAME=unix://socket per node
#   cluster.sh status        sockets, pids, the swarm's nodes
#
# Layout (nothing routed to the machine or outside):
#   netns adc-hub : bridge adcbr0 10.87.0.1/24
#   netns adc-cN  : eth0 10.87.0.1N (veth to the hub), no default route
#   dockerd cN    : unix:///run/agile-deck-cluster/cN/docker.sock, its own UTS
#                   namespace (hostname cN), data/exec roots, pidfile, config file,
#                   engine key, containerd namespace, cgroup parent /adc-cN.
#
# Pitfalls met on machines of this kind (each handled below):
# * `ip netns exec` remounts /sys, hiding /sys/fs/cgroup: the host's
#   hierarchies are mounted again inside, or dockerd cannot make containers.
# * dockerd reads /etc/docker/daemon.json (the host daemon's) and the host's
#   engine key unless given its own --config-file with `deprecated-key-path`
#   (20.10 takes it only in the JSON file).
# * Without a UTS namespace every node is named after the machine.
# * A bridge in the host's namespace meets bridge-nf-call-iptables and a
#   FORWARD DROP policy: it lives in its own hub namespace instead.
# * Never --bridge none in the host's namespace (it deletes docker0); each
#   daemon here runs in its own namespace with the docker0 it makes there.
# * No registry: images are copied with save | load; services are made with
#   --no-resolve-image, daemons run with DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1.
# * No IPVS in this kernel: services use --endpoint-mode dnsrr.
# * Containers outlive a SIGKILLed dockerd: teardown finds them by cgroup.
# * A TCP listener without TLS makes dockerd 20.10 sleep 15 s: unix sockets.
set -euo pipefail

NODES=(c1 c2 c3)
HUB=adc-hub
BR=adcbr0
NET=10.87.0
RUN=/run/agile-deck-cluster
DATA=/var/lib/agile-deck-cluster

log() { echo "[cluster] $*" >&2; }
sock() { echo "$RUN/$1/docker.sock"; }
dk() { local n=$1; shift; docker -H "unix://$(sock "$n")" "$@"; }
idx() { local i; for i in "${!NODES[@]}"; do [[ ${NODES[$i]} == "$1" ]] && echo $((i + 1)); done; return 0; }
ip_of() { echo "$NET.1$(idx "$1")"; }
ns_of() { echo "adc-$1"; }
ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }
pid_of() { local f=$RUN/$1/dockerd.pid; [[ -s $f ]] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"; }
answers() { dk "$1" version >/dev/null 2>&1; }
cgroup_mounts() { awk '$3=="cgroup"||$3=="cgroup2"{print $2, $3, $4}' /proc/self/mounts; }
known_node() { [[ -n $(idx "${1:-}") ]] || { echo "no node ${1:-} (nodes: ${NODES[*]})" >&2; exit 2; }; }

net_up() {
	ns_exists "$HUB" || { ip netns add "$HUB"; ip -n "$HUB" link set lo up; }
	ip -n "$HUB" link show "$BR" >/dev/null 2>&1 || ip -n "$HUB" link add "$BR" type bridge
	ip -n "$HUB" addr replace "$NET.1/24" dev "$BR"
	ip -n "$HUB" link set "$BR" up
	local n ns
	for n in "${NODES[@]}"; do
		ns=$(ns_of "$n")
		ns_exists "$ns" || ip netns add "$ns"
		ip -n "$ns" link set lo up
		ip -n "$ns" link show eth0 >/dev/null 2>&1 ||
			ip link add "adcv-$n" netns "$HUB" type veth peer name eth0 netns "$ns"
		ip -n "$HUB" link set "adcv-$n" master "$BR" up
		ip -n "$ns" addr replace "$(ip_of "$n")/24" dev eth0
		ip -n "$ns" link set eth0 up
	done
}

start_node() {
	local n=$1 i run=$RUN/$1 data=$DATA/$1
	i=$(idx "$n")
	if pid_of "$n" >/dev/null && answers "$n"; then return 0; fi
	mkdir -p "$run" "$data"
	printf '{"deprecated-key-path": "%s"}\n' "$data/key.json" >"$data/daemon.json"
	setsid ip netns exec "$(ns_of "$n")" unshare --uts -- \
		env ADC_CG="$(cgroup_mounts)" ADC_HOSTNAME="$n" DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 \
		sh -c 'hostname "$ADC_HOSTNAME"
		       mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
		       echo "$ADC_CG" | while read -r p t o; do mkdir -p "$p"; mount -t "$t" -o "$o" "$t" "$p"; done
		       exec "$@"' sh \
		dockerd --config-file "$data/daemon.json" \
		--data-root "$data/root" --exec-root "$run/exec" --pidfile "$run/dockerd.pid" \
		-H "unix://$(sock "$n")" \
		--bip "10.88.$((i * 4)).1/22" --default-address-pool "base=10.89.0.0/16,size=24" \
		--cgroup-parent "/adc-$n" \
		--containerd-namespace "adc-$n" --containerd-plugins-namespace "adc-$n-plugins" \
		--label "agile-deck.cluster=$n" \
		</dev/null >>"$data/dockerd.log" 2>&1 &
	local k
	for ((k = 0; k < 600; k++)); do
		answers "$n" && { log "$n: dockerd $(cat "$run/dockerd.pid") answers"; return 0; }
		sleep 0.1
	done
	log "$n: dockerd did not answer; its log:"
	tail -n 20 "$data/dockerd.log" >&2
	return 1
}

swarm_state() { dk "$1" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null; }

swarm_up() {
	local m=${NODES[0]} n tok k
	if [[ $(swarm_state "$m") != active ]]; then
		dk "$m" swarm init --advertise-addr "$(ip_of "$m")" --listen-addr "$(ip_of "$m"):2377" \
			--default-addr-pool 10.90.0.0/16 >/dev/null
	fi
	tok=$(dk "$m" swarm join-token -q worker)
	for n in "${NODES[@]:1}"; do
		[[ $(swarm_state "$n") == active ]] && continue
		dk "$n" swarm join --token "$tok" --advertise-addr "$(ip_of "$n")" \
			--listen-addr "$(ip_of "$n"):2377" "$(ip_of "$m"):2377" >/dev/null
	done
	for ((k = 0; k < 60; k++)); do
		[[ $(dk "$m" node ls --format '{{.Status}}' | grep -c Ready) -ge ${#NODES[@]} ]] && return 0
		sleep 1
	done
	log "the swarm did not get ${#NODES[@]} nodes Ready:"
	dk "$m" node ls >&2
	return 1
}

# Everything left of node n: processes in its namespace (containerd, shims)
# and under its cgroup parent (the containers, which have their own netns).
leftovers() {
	local ns
	ns=$(ns_of "$1")
	ns_exists "$ns" && ip netns pids "$ns" 2>/dev/null
	find /sys/fs/cgroup/pids/adc-"$1" /sys/fs/cgroup/adc-"$1" -name cgroup.procs -exec cat {} + 2>/dev/null
	return 0
}

stop_nodes() { # TERM every dockerd at once, KILL what is left after 20 s
	local n pid k pids=()
	for n in "$@"; do
		if pid=$(pid_of "$n"); then kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid"); fi
	done
	for pid in "${pids[@]}"; do
		for ((k = 0; k < 200; k++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	local sig p
	for n in "$@"; do
		for sig in TERM KILL; do
			for p in $(leftovers "$n"); do kill -s "$sig" "$p" 2>/dev/null || true; done
			for ((k = 0; k < 30; k++)); do [[ -z $(leftovers "$n") ]] && break; sleep 0.1; done
		done
	done
}

down() {
	local n m c
	stop_nodes "${NODES[@]}"
	for n in "${NODES[@]}"; do
		for m in $(grep -E " ($RUN/$n|$DATA/$n)(/| )" /proc/self/mounts | awk '{print $2}' | sort -r); do
			umount -l "$m" 2>/dev/null || true
		done
		ns_exists "$(ns_of "$n")" && ip netns del "$(ns_of "$n")"
		rm -rf "${RUN:?}/$n" "${DATA:?}/$n"
		for c in /sys/fs/cgroup/*/adc-"$n" /sys/fs/cgroup/adc-"$n"; do
			[[ -d $c ]] && { find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true; }
		done
	done
	ns_exists "$HUB" && ip netns del "$HUB"
	rmdir "$RUN" "$DATA" 2>/dev/null || true
	log "down"
}

status() {
	local n
	for n in "${NODES[@]}"; do
		printf '%s %s unix://%s dockerd=%s %s\n' "$n" "$(ip_of "$n")" "$(sock "$n")" \
			"$(pid_of "$n" || echo -)" "$(answers "$n" && echo up || echo down)"
	done
	answers "${NODES[0]}" && dk "${NODES[0]}" node ls 2>/dev/null || true
}

case ${1:-} in
up)
	command -v dockerd >/dev/null || { log "dockerd is not installed"; exit 1; }
	net_up
	for n in "${NODES[@]}"; do start_node "$n"; done
	swarm_up
	;;
down) down ;;
load)
	image=${2:?usage: cluster.sh load IMAGE}
	id=$(docker image inspect -f '{{.Id}}' "$image")
	for n in "${NODES[@]}"; do
		[[ $(dk "$n" image inspect -f '{{.Id}}' "$image" 2>/dev/null) == "$id" ]] && continue
		docker save "$image" | dk "$n" load -q >/dev/null
	done
	;;
kill)
	known_node "${2:-}"
	pid=$(pid_of "$2") || { log "$2: dockerd is not running"; exit 1; }
	kill -KILL "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	;;
start) known_node "${2:-}"; net_up; start_node "$2" ;;
env) for n in "${NODES[@]}"; do echo "$n=unix://$(sock "$n")"; done ;;
status) status ;;
*) echo "usage: cluster.sh up|down|load IMAGE|kill NODE|start NODE|env|status" >&2; exit 2 ;;
esac
