package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"unicode/utf8"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/policy"
)

// Paths the handlers are served on.
const (
	MutatePath   = "/mutate"
	ValidatePath = "/validate"
)

// Direction tells a handler whether it mutates or validates.
type Direction string

// Directions.
const (
	Mutating   Direction = "mutating"
	Validating Direction = "validating"
)

// HandlerOptions configure a Handler.
type HandlerOptions struct {
	// Config is the rule configuration (nil: the defaults).
	Config *policy.Config
	// World answers the rules' questions about the cluster. Required.
	World policy.World
	// ServiceAccount is meshgate's own user name
	// ("system:serviceaccount:<namespace>:<name>"); its requests pass untouched.
	ServiceAccount string
	// Namespace is meshgate's own namespace; objects in it pass untouched.
	Namespace string
	// Metrics records per-rule counters (nil: none).
	Metrics *Metrics
	// Observer, when set, is told about every review the handler answered
	// (guarded requests included). It must be safe for concurrent use.
	Observer func(Observation)
}

// Observation is one answered admission request, for Observer. A mutating
// answer carries its patch encoded, as Response.Patch (RFC 6902 JSON); the
// operations are Result.Patch.
type Observation struct {
	Direction Direction
	Request   admission.Request
	Response  admission.Response
	// Result is the engine's verdict (nil when a guard answered or the object
	// could not be read). Its Object is the object as submitted, or nil when
	// the handler read the object straight into its Go type (a Pod or Service:
	// engine.Engine.DecodeTyped).
	Result *engine.Result
}

// Handler is meshgate's admission handler for one direction. It implements
// admission.Handler; wrap it in an admission.Webhook (the Server does) so that
// controller-runtime decodes the AdmissionReview, limits the body size and
// recovers panics.
type Handler struct {
	dir      Direction
	full     *engine.Engine
	validate *engine.Engine
	opts     HandlerOptions
}

var _ admission.Handler = (*Handler)(nil)

// NewHandler returns the handler for dir.
func NewHandler(dir Direction, o HandlerOptions) (*Handler, error) {
	if dir != Mutating && dir != Validating {
		return nil, fmt.Errorf("webhook handler: unknown direction %q", dir)
	}
	if o.World == nil {
		return nil, errors.New("webhook handler: no World")
	}
	if o.Config == nil {
		o.Config = policy.DefaultConfig()
	}
	// With the in-tree policies installed, the API server applies the rules
	// they cover completely, and reports the findings the partial forms
	// cover; meshgate does not repeat them.
	var eo []engine.Option
	if o.Config.InTree.Enabled {
		eo = append(eo, engine.SkipInTree())
	}
	return &Handler{dir: dir, full: engine.New(o.Config, eo...), validate: engine.New(validationOnly(o.Config), eo...), opts: o}, nil
}

// validationOnly returns a copy of cfg with every mutation rule off, to validate
// an object exactly as it is.
func validationOnly(cfg *policy.Config) *policy.Config {
	c := *cfg
	c.Rules = make(map[string]policy.Mode, len(cfg.Rules))
	maps.Copy(c.Rules, cfg.Rules)
	for _, r := range policy.Rules() {
		if r.Mutation {
			c.Rules[r.ID] = policy.Off
		}
	}
	return &c
}

// ServiceAccountUser is the user name Kubernetes gives service account name in
// namespace ns.
func ServiceAccountUser(ns, name string) string {
	if ns == "" || name == "" {
		return ""
	}
	return "system:serviceaccount:" + ns + ":" + name
}

// Handle implements admission.Handler.
func (h *Handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	resp, res := h.handle(ctx, req)
	if h.opts.Observer != nil {
		h.opts.Observer(Observation{Direction: h.dir, Request: req, Response: resp, Result: res})
	}
	return resp
}

func (h *Handler) handle(ctx context.Context, req admission.Request) (admission.Response, *engine.Result) {
	if resp, guarded := h.guard(req); guarded {
		return resp, nil
	}
	// Both answers need only the engine's operations and findings, not the
	// patched object.
	in := engine.Input{Namespace: req.Namespace, Operation: policy.Operation(req.Operation), PatchOnly: true}
	if req.Operation == admissionv1.Update {
		// Findings the old object had too are warnings (the engine decodes
		// it only when the new object has findings).
		in.OldJSON = req.OldObject.Raw
	}
	kind := req.Kind.Kind
	gvk := schema.GroupVersionKind{Group: req.Kind.Group, Version: req.Kind.Version, Kind: req.Kind.Kind}
	if typed, ok := h.full.DecodeTyped(req.Object.Raw, gvk); ok {
		// A Pod or Service read straight into its Go type.
		in.Typed = typed
	} else {
		obj, err := decodeObject(req)
		if err != nil {
			return admission.Errored(http.StatusBadRequest, err), nil
		}
		kind = obj.GetKind()
		if !h.full.Handles(obj.GroupVersionKind().GroupKind()) {
			return admission.Allowed("meshgate has no rules for " + kind), nil
		}
		in.Object = obj
	}
	res, err := h.full.Review(ctx, in, h.opts.World)
	if err != nil {
		return h.failed(ctx, kind, err), nil
	}
	h.opts.Metrics.reviewed(h.dir, kind)
	if h.dir == Mutating {
		return h.mutated(kind, res), res
	}
	if res.Changed() {
		// The object is not in meshgate's final form (the mutating webhook was
		// skipped, failed open, or another webhook undid its change): validate
		// it exactly as it will be stored, not as meshgate would have made it.
		if in.Typed != nil {
			// The mutations changed the typed object: read it again.
			in.Typed, _ = h.full.DecodeTyped(req.Object.Raw, gvk)
		}
		vres, err := h.validate.Review(ctx, in, h.opts.World)
		if err != nil {
			return h.failed(ctx, kind, err), nil
		}
		findings := make([]policy.Finding, 0, len(res.Findings)+len(vres.Findings))
		for _, f := range res.Findings {
			if policy.IsMutation(f.Rule) {
				findings = append(findings, f)
			}
		}
		res = &engine.Result{Object: in.Object, Findings: append(findings, vres.Findings...)}
	}
	return h.validated(kind, res), res
}

// guard answers the requests meshgate must not review, Gatekeeper style.
func (h *Handler) guard(req admission.Request) (admission.Response, bool) {
	switch {
	case req.Operation == "":
		// The API server always sends one: this review has no request.
		return admission.Errored(http.StatusBadRequest, errors.New("the AdmissionReview carries no request (no operation)")), true
	case req.Operation != admissionv1.Create && req.Operation != admissionv1.Update:
		return admission.Allowed("meshgate reviews only CREATE and UPDATE"), true
	case req.SubResource != "":
		return admission.Allowed("meshgate does not review subresources"), true
	case h.opts.ServiceAccount != "" && req.UserInfo.Username == h.opts.ServiceAccount:
		return admission.Allowed("request from meshgate's own service account"), true
	case h.opts.Namespace != "" && req.Namespace == h.opts.Namespace:
		return admission.Allowed("object in meshgate's own namespace"), true
	}
	return admission.Response{}, false
}

// decodeObject reads the request's object. Numbers decode as int64 where they
// are integers, as the API machinery does.
func decodeObject(req admission.Request) (*unstructured.Unstructured, error) {
	raw := req.Object.Raw
	if len(raw) == 0 {
		return nil, fmt.Errorf("the %s request for %s carries no object", req.Operation, req.Kind.Kind)
	}
	var m map[string]any
	if err := utiljson.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("the request's object is not a JSON object: %w", err)
	}
	if m == nil {
		return nil, errors.New("the request's object is null")
	}
	u := &unstructured.Unstructured{Object: m}
	if u.GetKind() == "" || u.GetAPIVersion() == "" {
		gvk := req.Kind
		u.SetAPIVersion(metav1.GroupVersion{Group: gvk.Group, Version: gvk.Version}.String())
		u.SetKind(gvk.Kind)
	}
	return u, nil
}

// failed answers a review the engine could not complete. An object that cannot
// be read as its kind is unprocessable (422). A review whose World lookups
// failed is no verdict at all: the HTTP call fails (see failClosed), so the
// webhook's failurePolicy decides; without failClosed in front (handler tests)
// it is an error response (503).
func (h *Handler) failed(ctx context.Context, kind string, err error) admission.Response {
	h.opts.Metrics.reviewFailed(h.dir, kind)
	if !engine.IsWorldError(err) {
		return unprocessable(fmt.Errorf("meshgate cannot review this %s: %w", kind, err))
	}
	markUnavailable(ctx, err.Error())
	resp := admission.Errored(http.StatusServiceUnavailable, fmt.Errorf("meshgate cannot review this %s now: %w", kind, err))
	resp.Result.Reason = metav1.StatusReasonServiceUnavailable
	return resp
}

func unprocessable(err error) admission.Response {
	resp := admission.Errored(http.StatusUnprocessableEntity, err)
	resp.Result.Reason = metav1.StatusReasonInvalid
	return resp
}

var jsonPatchType = admissionv1.PatchTypeJSONPatch

// mutated answers a mutating review: the patch, and the mutation rules' warn
// findings (their conflicts) as warnings. Enforce findings are left to the
// validating webhook, which sees the final object.
func (h *Handler) mutated(kind string, res *engine.Result) admission.Response {
	var warn []policy.Finding
	for _, f := range res.Findings {
		if policy.IsMutation(f.Rule) && f.Mode == policy.Warn {
			warn = append(warn, f)
		}
	}
	h.opts.Metrics.found(kind, warn)
	h.opts.Metrics.changed(kind, res.Changes)
	resp := admission.Allowed("")
	if res.Changed() {
		// The engine's operations are the patch.
		patch, err := json.Marshal(res.Patch)
		if err != nil {
			return admission.Errored(http.StatusInternalServerError, fmt.Errorf("meshgate cannot encode its patch of this %s: %w", kind, err))
		}
		resp.Patch = patch
		resp.PatchType = &jsonPatchType
	}
	if len(res.Changes) > 0 {
		resp.AuditAnnotations = map[string]string{"changes": changeSummary(res.Changes)}
	}
	resp.Warnings = Warnings(warn)
	return resp
}

// validated answers a validating review: enforce findings deny, with every
// message; the validation rules' warn findings become warnings. (The mutation
// rules' warn findings were returned by the mutating webhook already.)
func (h *Handler) validated(kind string, res *engine.Result) admission.Response {
	var deny, warn []policy.Finding
	for _, f := range res.Findings {
		switch {
		case f.Mode == policy.Enforce:
			deny = append(deny, f)
		case f.Mode == policy.Warn && !policy.IsMutation(f.Rule):
			warn = append(warn, f)
		}
	}
	h.opts.Metrics.found(kind, deny)
	h.opts.Metrics.found(kind, warn)
	var resp admission.Response
	if len(deny) > 0 {
		msg, shown := denial(deny)
		resp = admission.Denied(msg)
		resp.Result.Details = &metav1.StatusDetails{Kind: kind}
		if o := deny[0].Object; o.Name != "" {
			resp.Result.Details.Name = o.Name
		}
		for _, f := range deny[:shown] {
			resp.Result.Details.Causes = append(resp.Result.Details.Causes, metav1.StatusCause{
				Type: metav1.CauseTypeFieldValueInvalid, Field: f.Field, Message: "[" + f.Rule + "] " + f.Message,
			})
		}
	} else {
		resp = admission.Allowed("")
	}
	resp.Warnings = Warnings(warn)
	return resp
}

// Limits on a denial: the API server passes the message on whole (to the
// client, the audit log and events), so meshgate caps it as it does warnings.
const (
	// DenialMaxBytes is the most a denial message holds.
	DenialMaxBytes = 32 * 1024
	// DenialLineBytes is what each finding's line is cut to.
	DenialLineBytes = 4 * 1024
)

// DenialMessage joins enforce findings into one denial message, one line each,
// at most DenialMaxBytes: each line cut to DenialLineBytes (ending in "…"), and
// the lines that do not fit left out, counted in a last line.
func DenialMessage(fs []policy.Finding) string {
	msg, _ := denial(fs)
	return msg
}

// denial is DenialMessage and how many findings it shows.
func denial(fs []policy.Finding) (string, int) {
	if len(fs) == 1 {
		return truncateBytes(sanitize(fs[0].String()), DenialMaxBytes), 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems:", len(fs))
	// Room for the last line: its text and the count's digits.
	const more = "\n[meshgate] %d more problems not shown: run `meshgate check` on the object to see them all"
	reserve := len(more) + 20
	for i, f := range fs {
		line := truncateBytes(sanitize(f.String()), DenialLineBytes)
		if i < len(fs)-1 && b.Len()+1+len(line)+reserve > DenialMaxBytes || b.Len()+1+len(line) > DenialMaxBytes {
			fmt.Fprintf(&b, more, len(fs)-i)
			return b.String(), i
		}
		b.WriteByte('\n')
		b.WriteString(line)
	}
	return b.String(), len(fs)
}

// truncateBytes cuts s to at most n bytes on a rune boundary, the last rune
// being "…" when it cut.
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// changeSummary renders the changes for the audit annotation, one
// "[rule] field: reason" each, joined by "; ".
func changeSummary(cs []policy.Change) string {
	n := 0
	for _, c := range cs {
		n += len(c.Rule) + len(c.Field) + len(c.Reason) + 7
	}
	var b strings.Builder
	b.Grow(n)
	for i, c := range cs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteByte('[')
		b.WriteString(c.Rule)
		b.WriteString("] ")
		b.WriteString(c.Field)
		b.WriteString(": ")
		b.WriteString(c.Reason)
	}
	return b.String()
}
