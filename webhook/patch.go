package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"

	"gomodules.xyz/jsonpatch/v2"
)

// encodePatch encodes ops as an RFC 6902 JSON patch, byte for byte as
// json.Marshal(ops) does (jsonpatch.Operation's MarshalJSON: "value" is
// omitted when nil, except for add and replace, which carry null), in one
// pass: json.Marshal of the operations encodes each one on its own through
// MarshalJSON and then validates and compacts it again into the list.
func encodePatch(ops []jsonpatch.Operation) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(128 * len(ops))
	enc := json.NewEncoder(&b)
	b.WriteByte('[')
	for i := range ops {
		op := &ops[i]
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"op":`)
		if err := encodeJSON(enc, &b, op.Operation); err != nil {
			return nil, err
		}
		b.WriteString(`,"path":`)
		if err := encodeJSON(enc, &b, op.Path); err != nil {
			return nil, err
		}
		if op.Value != nil || op.Operation == "add" || op.Operation == "replace" {
			b.WriteString(`,"value":`)
			if err := encodeJSON(enc, &b, op.Value); err != nil {
				return nil, fmt.Errorf("encode the value of %s %s: %w", op.Operation, op.Path, err)
			}
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

// encodeJSON appends v's JSON to b through enc (which writes to b), without
// the newline the encoder ends each value with.
func encodeJSON(enc *json.Encoder, b *bytes.Buffer, v any) error {
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1)
	return nil
}
