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

# Whatever is left: the shims containerd started (they outlive it) and any
# process of the cluster still running, found by pid as processes whose
# executable is under bin/cluster or that live in the cluster's network
# namespace (every daemon and pod does; a process elsewhere running the same
# binaries, such as a test's envtest API server, is left alone).
NETNS_INODE=""
[[ -e "/run/netns/${NETNS}" ]] && NETNS_INODE="$(stat -L -c %i "/run/netns/${NETNS}" 2>/dev/null)"
leftovers() {
  local p exe
  for p in /proc/[0-9]*; do
    [[ "${p#/proc/}" == "$$" ]] && continue
    exe="$(readlink "${p}/exe" 2>/dev/null)" || continue
    if [[ "${exe}" == "${BIN}"/* ]] || { [[ -n "${NETNS_INODE}" ]] && [[ "$(stat -L -c %i "${p}/ns/net" 2>/dev/null)" == "${NETNS_INODE}" ]]; }; then
      printf '%s %s\n' "${p#/proc/}" "${exe##*/}"
    fi
  done
}
while read -r pid exe; do
  log "stopping leftover ${exe} (${pid})"
  kill -KILL "${pid}" 2>/dev/null
done < <(leftovers)
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

# Verify: nothing the cluster started is left (processes, mounts, cgroups, the
# network namespace); a leftover fails the run.
sleep 0.2
problems=()
mapfile -t procs < <(leftovers)
[[ ${#procs[@]} -eq 0 ]] || problems+=("processes: ${procs[*]}")
if [[ -d "${STATE}" ]]; then
  mapfile -t mounts < <(awk -v s="${STATE}/" 'index($2, s) == 1 {print $2}' /proc/self/mounts)
  [[ ${#mounts[@]} -eq 0 ]] || problems+=("mounts: ${mounts[*]}")
fi
if ip netns list 2>/dev/null | grep -qw "${NETNS}"; then problems+=("network namespace ${NETNS}"); fi
for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
  [[ -d "${d}" ]] && [[ -n "$(find "${d}" -mindepth 1 -type d 2>/dev/null | head -n1)" ]] && problems+=("cgroups under ${d}")
done
if [[ ${#problems[@]} -gt 0 ]]; then
  log "cleanup INCOMPLETE: ${problems[*]}"
  exit 1
fi
log "cluster down; cleanup verified: no process, mount, pod cgroup or network namespace left"
