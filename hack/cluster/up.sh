#!/usr/bin/env bash
# Starts a single-node Kubernetes cluster from bin/cluster/ (hack/cluster/build.sh)
# inside a network namespace of its own: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, containerd + runc, kubelet and
# kube-proxy, with the bridge CNI plugin. Imports the images given in
# CLUSTER_IMAGES (OCI tarballs) plus the pause image, waits until the node is
# Ready and a probe pod runs, and prints the KUBECONFIG path on stdout.
#
# Runs as root (network namespace, mounts, cgroups). Everything it starts is
# recorded in $STATE/pids and stopped by hack/cluster/down.sh, which this
# script also runs when bring-up fails.
#
# Environment: CLUSTER_STATE (default bin/cluster-state), CLUSTER_IMAGES
# (space-separated OCI tarballs to import), CLUSTER_NETNS (default meshgate-cluster).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${ROOT}/bin/cluster"
STATE="${CLUSTER_STATE:-${ROOT}/bin/cluster-state}"
NETNS="${CLUSTER_NETNS:-meshgate-cluster}"
NODE=meshgate-node
NODE_IP=10.200.0.2
PEER_IP=10.200.0.1
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/24
API_IP=10.96.0.1
PAUSE_IMAGE=localhost/meshgate-cluster/pause:1
log() { printf '[cluster-up] %s (%ss)\n' "$*" "${SECONDS}" >&2; }

[[ "$(id -u)" == 0 ]] || { log "must run as root (network namespace, mounts, cgroups)"; exit 1; }
for b in kube etcd containerd containerd-shim-runc-v2 ctr runc pause image; do
  [[ -x "${BIN}/${b}" ]] || { log "missing ${BIN}/${b}: run hack/cluster/build.sh"; exit 1; }
done
if [[ -e "${STATE}/pids" ]] && ls "${STATE}/pids"/*.pid >/dev/null 2>&1; then
  log "a cluster is already recorded in ${STATE}; run hack/cluster/down.sh first"; exit 1
fi

# Debian packages: CNI plugins, iptables (kube-proxy), conntrack, iproute2.
missing=()
for p in containernetworking-plugins iptables conntrack iproute2 util-linux openssl; do
  dpkg -s "${p}" >/dev/null 2>&1 || missing+=("${p}")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

failed=1
cleanup() { if [[ "${failed}" == 1 ]]; then log "bring-up failed: tearing down (logs in ${STATE}/logs)"; "${ROOT}/hack/cluster/down.sh" >&2 || true; fi; }
trap cleanup EXIT

rm -rf "${STATE}"
mkdir -p "${STATE}"/{pids,logs,pki,etcd,kubelet,containerd/root,containerd/state,cni/net.d,manifests}
PIDS="${STATE}/pids" LOGS="${STATE}/logs" PKI="${STATE}/pki"

# --- network namespace: node IP on a veth pair whose both ends live inside it.
ip netns add "${NETNS}"
echo "${NETNS}" >"${STATE}/netns"
NS=(nsenter "--net=/run/netns/${NETNS}")
ip -n "${NETNS}" link set lo up
ip -n "${NETNS}" link add mg-node type veth peer name mg-peer
ip -n "${NETNS}" addr add "${NODE_IP}/24" dev mg-node
ip -n "${NETNS}" addr add "${PEER_IP}/24" dev mg-peer
ip -n "${NETNS}" link set mg-node up
ip -n "${NETNS}" link set mg-peer up
ip -n "${NETNS}" route add default dev mg-node src "${NODE_IP}"
"${NS[@]}" sysctl -qw net.ipv4.ip_forward=1
log "network namespace ${NETNS}: node ${NODE_IP}, pods ${POD_CIDR}, services ${SERVICE_CIDR}"

# --- PKI (openssl): one CA signs every serving and client certificate.
cert() { # name CN O [SANs]
  local name="$1" cn="$2" o="$3" san="${4:-}"
  local subj="/CN=${cn}"; [[ -n "${o}" ]] && subj="/O=${o}/CN=${cn}"
  openssl req -new -newkey rsa:2048 -nodes -keyout "${PKI}/${name}.key" -subj "${subj}" -out "${PKI}/${name}.csr" 2>/dev/null
  local ext="${PKI}/${name}.ext"
  { echo "basicConstraints=CA:FALSE"; echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [[ -n "${san}" ]]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=${san}"; else echo "extendedKeyUsage=clientAuth"; fi; } >"${ext}"
  openssl x509 -req -in "${PKI}/${name}.csr" -CA "${PKI}/ca.crt" -CAkey "${PKI}/ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "${ext}" -out "${PKI}/${name}.crt" 2>/dev/null
}
openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "${PKI}/ca.key" -subj "/CN=meshgate-cluster-ca" \
  -days 30 -sha256 -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
  -out "${PKI}/ca.crt" 2>/dev/null
openssl genrsa -out "${PKI}/sa.key" 2048 2>/dev/null
openssl rsa -in "${PKI}/sa.key" -pubout -out "${PKI}/sa.pub" 2>/dev/null
cert apiserver kube-apiserver "" "IP:${NODE_IP},IP:${API_IP},IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
cert admin kubernetes-admin system:masters
cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
cert controller-manager system:kube-controller-manager ""
cert scheduler system:kube-scheduler ""
cert kubelet "system:node:${NODE}" system:nodes
cert kube-proxy system:kube-proxy ""

kubeconfig() { # name -> $STATE/<name>.kubeconfig
  cat >"${STATE}/$1.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: meshgate-cluster
  cluster:
    server: https://${NODE_IP}:6443
    certificate-authority: ${PKI}/ca.crt
users:
- name: $1
  user:
    client-certificate: ${PKI}/$1.crt
    client-key: ${PKI}/$1.key
contexts:
- name: meshgate-cluster
  context: {cluster: meshgate-cluster, user: $1}
current-context: meshgate-cluster
KC
}
for k in admin controller-manager scheduler kubelet kube-proxy; do kubeconfig "$k"; done
export KUBECONFIG="${STATE}/admin.kubeconfig"

# start NAME COMMAND...: runs COMMAND in the namespace, logs to $LOGS/NAME.log,
# pid in $PIDS/NAME.pid.
start() {
  local name="$1"; shift
  PATH="${BIN}:${PATH}" setsid "${NS[@]}" "$@" >"${LOGS}/${name}.log" 2>&1 </dev/null &
  echo $! >"${PIDS}/${name}.pid"
}
# wait_for WHAT SECONDS COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local what="$1" limit="$2"; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if (( SECONDS >= deadline )); then log "timed out waiting for ${what}"; return 1; fi
    sleep 0.5
  done
  log "${what}: ok"
}
# The API server listens inside the namespace: so must its clients.
kubectl() { "${NS[@]}" "${BIN}/kubectl" --kubeconfig "${KUBECONFIG}" "$@"; }

start etcd "${BIN}/etcd" --name "${NODE}" --data-dir "${STATE}/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster "${NODE}=http://127.0.0.1:2380" --unsafe-no-fsync
start kube-apiserver "${BIN}/kube-apiserver" \
  --etcd-servers http://127.0.0.1:2379 --advertise-address "${NODE_IP}" --bind-address 0.0.0.0 --secure-port 6443 \
  --service-cluster-ip-range "${SERVICE_CIDR}" --allow-privileged=true \
  --tls-cert-file "${PKI}/apiserver.crt" --tls-private-key-file "${PKI}/apiserver.key" --client-ca-file "${PKI}/ca.crt" \
  --service-account-key-file "${PKI}/sa.pub" --service-account-signing-key-file "${PKI}/sa.key" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
  --kubelet-client-certificate "${PKI}/apiserver-kubelet-client.crt" --kubelet-client-key "${PKI}/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types InternalIP --profiling=false
wait_for "kube-apiserver /readyz" 120 kubectl get --raw /readyz

start kube-controller-manager "${BIN}/kube-controller-manager" \
  --kubeconfig "${STATE}/controller-manager.kubeconfig" \
  --authentication-kubeconfig "${STATE}/controller-manager.kubeconfig" --authorization-kubeconfig "${STATE}/controller-manager.kubeconfig" \
  --service-account-private-key-file "${PKI}/sa.key" --root-ca-file "${PKI}/ca.crt" \
  --cluster-signing-cert-file "${PKI}/ca.crt" --cluster-signing-key-file "${PKI}/ca.key" \
  --use-service-account-credentials=true --leader-elect=false --bind-address 127.0.0.1 \
  --service-cluster-ip-range "${SERVICE_CIDR}" --controllers '*'
start kube-scheduler "${BIN}/kube-scheduler" --kubeconfig "${STATE}/scheduler.kubeconfig" \
  --authentication-kubeconfig "${STATE}/scheduler.kubeconfig" --authorization-kubeconfig "${STATE}/scheduler.kubeconfig" \
  --leader-elect=false --bind-address 127.0.0.1

# --- containerd: CRI with our runc, the bridge CNI and a local pause image.
cat >"${STATE}/cni/net.d/10-meshgate.conflist" <<CNI
{"cniVersion": "1.0.0", "name": "meshgate", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "${POD_CIDR}"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
CNI
cat >"${STATE}/containerd/config.toml" <<TOML
version = 3
root = "${STATE}/containerd/root"
state = "${STATE}/containerd/state"
[grpc]
  address = "${STATE}/containerd/containerd.sock"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '${PAUSE_IMAGE}'
[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = 'io.containerd.runc.v2'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      BinaryName = '${BIN}/runc'
      SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['/usr/lib/cni']
    conf_dir = '${STATE}/cni/net.d'
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
TOML
start containerd "${BIN}/containerd" --config "${STATE}/containerd/config.toml"
CTR=("${BIN}/ctr" --address "${STATE}/containerd/containerd.sock" -n k8s.io)
wait_for containerd 60 "${CTR[@]}" version

# --- images: the pause sandbox, then whatever CLUSTER_IMAGES lists.
ARCH="$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')"
"${BIN}/image" -ref "${PAUSE_IMAGE}" -binary "linux/${ARCH}=${BIN}/pause" -path /pause \
  -created 0 -out "${STATE}/pause.oci.tar" >/dev/null
imgs=("${STATE}/pause.oci.tar")
# cert-manager's controller and cainjector, built from our mains (hack/cluster/certmanager).
if [[ -x "${BIN}/cert-manager-controller" && -f "${BIN}/.stamp-certmanager" ]]; then
  cmv="$(sed -n 's/^cert-manager=\([^ ]*\).*/\1/p' "${BIN}/.stamp-certmanager")"
  for c in controller cainjector; do
    "${BIN}/image" -ref "localhost/cert-manager/${c}:${cmv}" -binary "linux/${ARCH}=${BIN}/cert-manager-${c}" \
      -path "/app/cmd/${c}/${c}" -created 0 -out "${STATE}/cert-manager-${c}.oci.tar" >/dev/null
    imgs+=("${STATE}/cert-manager-${c}.oci.tar")
  done
fi
for img in "${imgs[@]}" ${CLUSTER_IMAGES:-}; do
  "${CTR[@]}" images import --local "${img}" >&2 || "${CTR[@]}" images import "${img}" >&2
done
log "images imported: $("${CTR[@]}" images ls -q | grep -v '^sha256:' | tr '\n' ' ')"

# --- kubelet and kube-proxy.
cat >"${STATE}/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://${STATE}/containerd/containerd.sock
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${PKI}/ca.crt}
authorization: {mode: Webhook}
address: ${NODE_IP}
healthzBindAddress: 127.0.0.1
failSwapOn: false
resolvConf: ""
clusterDomain: cluster.local
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
registerWithTaints: []
maxPods: 60
YAML
start kubelet "${BIN}/kubelet" --config "${STATE}/kubelet.yaml" --kubeconfig "${STATE}/kubelet.kubeconfig" \
  --root-dir "${STATE}/kubelet" --cert-dir "${STATE}/kubelet/pki" --node-ip "${NODE_IP}" --hostname-override "${NODE}"
cat >"${STATE}/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: ${POD_CIDR}
hostnameOverride: ${NODE}
bindAddress: ${NODE_IP}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
clientConnection: {kubeconfig: ${STATE}/kube-proxy.kubeconfig}
iptables: {masqueradeAll: true}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML
start kube-proxy "${BIN}/kube-proxy" --config "${STATE}/kube-proxy.yaml"

wait_for "node ${NODE} Ready" 120 kubectl wait --for=condition=Ready "node/${NODE}" --timeout=2s
wait_for "default ServiceAccount" 60 kubectl -n default get serviceaccount default

# --- a probe pod proves sandbox, CNI, runc and the kubelet work end to end.
kubectl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: cluster-probe, namespace: default}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: pause
    image: ${PAUSE_IMAGE}
    imagePullPolicy: Never
    securityContext: {runAsNonRoot: true, runAsUser: 65532, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, readOnlyRootFilesystem: true, seccompProfile: {type: RuntimeDefault}}
YAML
wait_for "probe pod Ready" 120 kubectl -n default wait --for=condition=Ready pod/cluster-probe --timeout=2s
kubectl -n default delete pod cluster-probe --wait=false >/dev/null

failed=0
log "cluster up; KUBECONFIG=${KUBECONFIG}"
printf '%s\n' "${KUBECONFIG}"
