package faults

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// TestSecureMetricsNeedAnAuthorizedClient: with secure metrics, /metrics is
// served over HTTPS only to clients the API server authenticates (a
// TokenReview) and authorizes (get on the /metrics non-resource URL, a
// SubjectAccessReview): a service account bound to a metrics-reader
// ClusterRole gets the metrics, anybody else 401 or 403.
func TestSecureMetricsNeedAnAuthorizedClient(t *testing.T) {
	needCluster(t)
	ctx := context.Background()
	m := startOwnMeshgate(t, ownOptions{metricsSecure: true})

	cs, err := kubernetes.NewForConfig(k.Config)
	require.NoError(t, err)
	reader := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "faults-metrics-reader"},
		Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "faults-metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "prometheus", Namespace: ownNamespace}},
	}
	require.NoError(t, k.Client.Create(ctx, reader))
	require.NoError(t, k.Client.Create(ctx, binding))
	t.Cleanup(func() {
		_ = k.Client.Delete(context.Background(), binding)
		_ = k.Client.Delete(context.Background(), reader)
	})
	token := func(sa string) string {
		t.Helper()
		_, err := cs.CoreV1().ServiceAccounts(ownNamespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
		require.NoError(t, err)
		t.Cleanup(func() {
			_ = cs.CoreV1().ServiceAccounts(ownNamespace).Delete(context.Background(), sa, metav1.DeleteOptions{})
		})
		tr, err := cs.CoreV1().ServiceAccounts(ownNamespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		return tr.Status.Token
	}
	readerToken, otherToken := token("prometheus"), token("someone-else")

	// The metrics server's certificate is self-signed (no --metrics-cert-path).
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed
	scrape := func(url, token string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return 0, err.Error()
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cases := []struct {
		name     string
		url      string
		token    string
		wantCode int
		wantBody string
	}{
		{"no token: 401", m.metrics, "", http.StatusUnauthorized, "Unauthorized"},
		// controller-runtime's filter answers 500 when the TokenReview says
		// the token is invalid (it takes that for an error).
		{"a token the API server does not know: refused", m.metrics, "not-a-token", http.StatusInternalServerError, "Authentication failed"},
		{"a service account without the role: 403", m.metrics, otherToken, http.StatusForbidden, "denied"},
		{"a service account with the metrics-reader role gets the metrics", m.metrics, readerToken, http.StatusOK, "controller_runtime_webhook_requests_total"},
		{"plain HTTP is not served", "http" + m.metrics[len("https"):], readerToken, http.StatusBadRequest, "HTTPS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var code int
			var body string
			// RBAC bindings reach the authorizer's cache within moments.
			deadline := time.Now().Add(10 * time.Second)
			for {
				code, body = scrape(tc.url, tc.token)
				if code == tc.wantCode || time.Now().After(deadline) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			require.Equal(t, tc.wantCode, code, "%.300s", body)
			assert.Contains(t, body, tc.wantBody)
			if code != http.StatusOK {
				assert.NotContains(t, body, "controller_runtime_", "no metrics without authorization")
			}
		})
	}
}
