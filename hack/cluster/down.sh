#!/usr/bin/env bash
# Stops the cluster hack/cluster/up.sh started and cleans up after it: pod
# tasks and their shims, every daemon by the pid up.sh recorded, kubelet's and
# containerd's mounts, the pods' cgroups and the network namespace. Safe to run
# twice, and after a failed bring-up.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${ROOT}/bin/cluster"
STATE="${CLUSTER_STATE:-${ROOT}/bin/cluster-state}"
NETNS="${CLUSTER_NETNS:-meshgate-cluster}"
[[ -f "${STATE}/netns" ]] && NETNS="$(cat "${STATE}/netns")"
log() { printf '[cluster-down] %s\n' "$*" >&2; }

# stop NAME: SIGTERM, then SIGKILL after 10 s, the pid up.sh recorded.
stop() {
  local f="${STATE}/pids/$1.pid" pid i
  [[ -f "${f}" ]] || return 0
  pid="$(cat "${f}")"
  if kill -0 "${pid}" 2>/dev/null; then
    kill -TERM "${pid}" 2>/dev/null
    for i in $(seq 1 100); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.1; done
    kill -0 "${pid}" 2>/dev/null && { log "$1 (${pid}) ignored SIGTERM: SIGKILL"; kill -KILL "${pid}" 2>/dev/null; sleep 0.2; }
    log "stopped $1 (${pid})"
  fi
  rm -f "${f}"
}

# The kubelet first, so it does not restart what is being stopped.
stop kube-proxy
stop kubelet

# Pod tasks: kill and delete them through containerd while it still runs.
SOCK="${STATE}/containerd/containerd.sock"
if [[ -S "${SOCK}" && -f "${STATE}/pids/containerd.pid" ]]; then
  CTR=("${BIN}/ctr" --address "${SOCK}" -n k8s.io)
  for t in $(timeout 10 "${CTR[@]}" tasks ls -q 2>/dev/null); do
    timeout 10 "${CTR[@]}" tasks kill -s SIGKILL "${t}" >/dev/null 2>&1
  done
  sleep 0.5
  for t in $(timeout 10 "${CTR[@]}" tasks ls -q 2>/dev/null); do
    timeout 10 "${CTR[@]}" tasks delete -f "${t}" >/dev/null 2>&1
  done
fi
stop kube-scheduler
stop kube-controller-manager
stop kube-apiserver
stop containerd
stop etcd

# Shims containerd started (they outlive it): found by their executable, our
# bin/cluster/containerd-shim-runc-v2, and stopped by pid; then any process
# still running a binary from bin/cluster (a pod's container init is runc's
# child, killed with its shim's tasks above).
for p in /proc/[0-9]*; do
  exe="$(readlink "${p}/exe" 2>/dev/null)" || continue
  case "${exe}" in
    "${BIN}"/*)
      pid="${p#/proc/}"
      log "stopping leftover ${exe##*/} (${pid})"
      kill -KILL "${pid}" 2>/dev/null ;;
  esac
done
sleep 0.3

# Mounts under the state directory (kubelet volumes, overlay snapshots, pod
# network namespaces, shm), deepest first.
if [[ -d "${STATE}" ]]; then
  for i in 1 2 3; do
    mapfile -t mounts < <(awk -v s="${STATE}/" 'index($2, s) == 1 {print $2}' /proc/self/mounts | sort -r)
    [[ ${#mounts[@]} -eq 0 ]] && break
    for m in "${mounts[@]}"; do umount "${m}" 2>/dev/null || umount -l "${m}" 2>/dev/null; done
  done
fi

# The pods' cgroups (cgroupfs driver: kubepods under every v1 hierarchy).
for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
  [[ -d "${d}" ]] || continue
  find "${d}" -depth -type d -exec rmdir {} \; 2>/dev/null
done

if ip netns list 2>/dev/null | grep -qw "${NETNS}"; then
  ip netns delete "${NETNS}" && log "deleted network namespace ${NETNS}"
fi
rm -f "${STATE}/netns"
log "cluster down"
