// Package webhook is meshgate's admission server: it turns AdmissionReviews into
// engine reviews and back.
//
// Two handlers, one per direction, dispatch by kind to the engine:
//
//   - the mutating handler (/mutate) answers with the engine's own RFC 6902
//     operations as the JSON patch, and with the mutation rules' warn findings
//     (conflicts) as warnings. It denies nothing: validation happens on the final
//     object, in the validating webhook.
//   - the validating handler (/validate) reviews the object as it will be stored
//     (after every mutating webhook), denies on enforce findings with all their
//     messages, and returns the validation rules' warn findings as warnings.
//
// So every finding surfaces exactly once. The World the rules consult comes
// from a controller-runtime cache (package internal/world/cached) that holds only what the rules
// need and follows CRDs being installed or removed without a restart. Server
// wires the handlers, the cache, TLS, health and readiness, and metrics together.
package webhook
