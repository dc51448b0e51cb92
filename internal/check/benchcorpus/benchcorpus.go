// Package benchcorpus generates the mixed manifest corpus that `meshgate check`'s
// performance target is measured on (BenchmarkCheck10k, `make bench-check`):
// realistic Namespaces, Deployments, Pods, Services, Emissary installs (whose
// pods get mutated), Mappings, TLSContexts, VirtualServices and HTTPRoutes,
// some right, some wrong, one multi-document file per team. The output is a
// pure function of n.
package benchcorpus

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// File is one generated manifest file.
type File struct {
	// Name is the path relative to the corpus root.
	Name string
	Data []byte
	// Objects is how many objects it holds.
	Objects int
}

// Generate returns files holding at least n objects in total.
func Generate(n int) []File {
	files := []File{infra()}
	total := files[0].Objects
	for team := 0; total < n; team++ {
		f := teamFile(team)
		files = append(files, f)
		total += f.Objects
	}
	return files
}

// Write generates the corpus into dir (created if needed) and returns how many
// objects it holds.
func Write(dir string, n int) (int, error) {
	total := 0
	for _, f := range Generate(n) {
		path := filepath.Join(dir, f.Name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return total, fmt.Errorf("bench corpus: %w", err)
		}
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			return total, fmt.Errorf("bench corpus: %w", err)
		}
		total += f.Objects
	}
	return total, nil
}

type builder struct {
	b strings.Builder
	n int
}

func (b *builder) doc(format string, args ...any) {
	if b.n > 0 {
		b.b.WriteString("---\n")
	}
	fmt.Fprintf(&b.b, format, args...)
	b.n++
}

func infra() File {
	var b builder
	b.doc(`apiVersion: v1
kind: Namespace
metadata:
  name: emissary
  labels:
    istio-injection: enabled
`)
	b.doc(`apiVersion: v1
kind: Namespace
metadata:
  name: istio-ingress
`)
	b.doc(`apiVersion: v1
kind: Namespace
metadata:
  name: infra
`)
	b.doc(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: istio-ingressgateway
  namespace: istio-ingress
spec:
  selector:
    istio: ingressgateway
  servers:
    - port:
        number: 443
        name: https
        protocol: HTTPS
      hosts: ["*.example.com"]
      tls:
        mode: SIMPLE
        credentialName: wildcard-example-com
`)
	b.doc(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: public
  namespace: infra
spec:
  gatewayClassName: istio
  listeners:
    - name: http
      port: 80
      protocol: HTTP
      allowedRoutes:
        namespaces:
          from: Selector
          selector:
            matchLabels:
              gateway-access: public
    - name: internal
      port: 8080
      protocol: HTTP
`)
	b.doc(`apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: istio-system
spec:
  mtls:
    mode: STRICT
`)
	b.doc(`apiVersion: getambassador.io/v3alpha1
kind: TLSContext
metadata:
  name: istio-upstream
  namespace: emissary
spec:
  secret: istio-certs
  alpn_protocols: istio
`)
	return File{Name: "infra.yaml", Data: []byte(b.b.String()), Objects: b.n}
}

// teamFile is one team's namespace and applications.
func teamFile(team int) File {
	var b builder
	ns := fmt.Sprintf("team-%04d", team)
	labels := "    istio-injection: enabled\n    gateway-access: public\n"
	switch team % 6 {
	case 4:
		labels = "    istio.io/dataplane-mode: ambient\n"
	case 5:
		labels = "    owner: platform\n"
	}
	b.doc("# Source: team-%04d/templates/namespace.yaml\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels:\n%s", team, ns, labels)
	if team%10 == 0 {
		emissary(&b, ns)
	}
	for app := 0; app < 2; app++ {
		name := fmt.Sprintf("svc-%d", app)
		deployment(&b, ns, name, team+app)
		service(&b, ns, name, team+app)
		mapping(&b, ns, name, team+app)
	}
	if team%3 == 0 {
		pod(&b, ns, team)
	}
	virtualService(&b, ns, team)
	httpRoute(&b, ns, team)
	return File{Name: filepath.Join(fmt.Sprintf("group-%02d", team%16), ns+".yaml"), Data: []byte(b.b.String()), Objects: b.n}
}

func deployment(b *builder, ns, name string, seed int) {
	b.doc(`# Source: app/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[2]s
  namespace: %[1]s
  labels:
    app.kubernetes.io/name: %[2]s
    app.kubernetes.io/part-of: shop
    app.kubernetes.io/version: "1.%[3]d.0"
spec:
  replicas: %[4]d
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      app.kubernetes.io/name: %[2]s
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%%
      maxUnavailable: 0
  template:
    metadata:
      labels:
        app.kubernetes.io/name: %[2]s
        app.kubernetes.io/part-of: shop
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "9090"
    spec:
      serviceAccountName: %[2]s
      securityContext:
        runAsNonRoot: true
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: app
          image: registry.example.com/shop/%[2]s:1.%[3]d.0
          imagePullPolicy: IfNotPresent
          args: ["--port=8080", "--metrics-port=9090", "--log-level=info"]
          ports:
            - name: http
              containerPort: 8080
            - name: metrics
              containerPort: 9090
          env:
            - name: POD_NAMESPACE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
            - name: DATABASE_URL
              valueFrom:
                secretKeyRef:
                  name: %[2]s-db
                  key: url
            - name: FEATURE_FLAGS
              value: "checkout,recommendations"
          readinessProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 5
          livenessProbe:
            httpGet:
              path: /livez
              port: http
            initialDelaySeconds: 10
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
            limits:
              memory: 256Mi
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir: {}
`, ns, name, seed%30, 2+seed%3)
}

func service(b *builder, ns, name string, seed int) {
	port := "    - name: http\n      port: 80\n      targetPort: http\n"
	switch seed % 5 {
	case 1:
		port = "    - name: web\n      port: 8081\n      targetPort: 8080\n" // Istio cannot read it, nor tell from the numbers
	case 2:
		port = "    - port: 80\n      targetPort: http\n" // unnamed: named by the mutation
	case 3:
		port = "    - name: http2foo\n      port: 80\n      targetPort: http\n" // appProtocol added
	}
	b.doc(`apiVersion: v1
kind: Service
metadata:
  name: %[2]s
  namespace: %[1]s
  labels:
    app.kubernetes.io/name: %[2]s
spec:
  type: ClusterIP
  selector:
    app.kubernetes.io/name: %[2]s
  ports:
%[3]s    - name: http-metrics
      port: 9090
      targetPort: metrics
`, ns, name, port)
}

func mapping(b *builder, ns, name string, seed int) {
	extra := ""
	if seed%7 == 3 {
		extra = "  tls: missing-context\n" // names no TLSContext
	}
	b.doc(`apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata:
  name: %[2]s
  namespace: %[1]s
spec:
  hostname: "%[2]s.%[1]s.example.com"
  prefix: /%[2]s/
  service: %[2]s.%[1]s
  timeout_ms: 5000
%[3]s`, ns, name, extra)
}

func pod(b *builder, ns string, seed int) {
	b.doc(`apiVersion: v1
kind: Pod
metadata:
  name: debug-%[2]d
  namespace: %[1]s
  labels:
    app: debug
spec:
  restartPolicy: Never
  containers:
    - name: shell
      image: busybox:1.36
      command: ["sleep", "3600"]
      resources:
        limits:
          cpu: 50m
          memory: 32Mi
`, ns, seed)
}

func virtualService(b *builder, ns string, seed int) {
	gw := "istio-ingress/istio-ingressgateway"
	if seed%7 == 0 {
		gw = "istio-ingressgateway" // short name: the silent 404
	}
	b.doc(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: shop
  namespace: %[1]s
spec:
  hosts:
    - "%[1]s.example.com"
  gateways:
    - %[2]s
    - mesh
  http:
    - match:
        - uri:
            prefix: /api/
      route:
        - destination:
            host: svc-0
            port:
              number: 80
      retries:
        attempts: 3
        perTryTimeout: 2s
    - route:
        - destination:
            host: svc-1
            port:
              number: 80
`, ns, gw)
}

func httpRoute(b *builder, ns string, seed int) {
	b.doc(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: shop
  namespace: %[1]s
spec:
  parentRefs:
    - name: public
      namespace: infra
      sectionName: http
  hostnames:
    - "www.%[1]s.example.com"
  rules:
    - matches:
        - path:
            type: PathPrefix
            value: /
      backendRefs:
        - name: svc-0
          port: 80
`, ns)
	_ = seed
}

func emissary(b *builder, ns string) {
	b.doc(`# Source: emissary-ingress/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: edge
  namespace: %[1]s
  labels:
    app.kubernetes.io/name: emissary-ingress
spec:
  replicas: 3
  selector:
    matchLabels:
      app.kubernetes.io/name: emissary-ingress
  template:
    metadata:
      labels:
        app.kubernetes.io/name: emissary-ingress
        product: aes
        profile: main
      annotations:
        sidecar.istio.io/inject: "false"
    spec:
      serviceAccountName: emissary-ingress
      containers:
        - name: ambassador
          image: docker.io/emissaryingress/emissary:3.9.1
          ports:
            - name: http
              containerPort: 8080
            - name: https
              containerPort: 8443
            - name: admin
              containerPort: 8877
          env:
            - name: AMBASSADOR_NAMESPACE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
          readinessProbe:
            httpGet:
              path: /ambassador/v0/check_ready
              port: admin
          livenessProbe:
            httpGet:
              path: /ambassador/v0/check_alive
              port: admin
          resources:
            limits:
              cpu: "1"
              memory: 600Mi
            requests:
              cpu: 200m
              memory: 300Mi
`, ns)
	b.doc(`apiVersion: v1
kind: Service
metadata:
  name: edge
  namespace: %[1]s
spec:
  type: LoadBalancer
  selector:
    app.kubernetes.io/name: emissary-ingress
  ports:
    - name: http
      port: 80
      targetPort: 8080
    - name: https
      port: 443
      targetPort: 8443
`, ns)
}
