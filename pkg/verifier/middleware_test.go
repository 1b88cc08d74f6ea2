package verifier_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/tokend/tokend/pkg/errcode"
	"github.com/tokend/tokend/pkg/verifier"
)

func TestWriteErrorAnswersWithErrcodesMeaning(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		code      errcode.Code
		challenge string
	}{
		{"no token", verifier.ErrNoToken, errcode.Unauthorized, `Bearer realm="tokend"`},
		{"an invalid token", fmt.Errorf("%w: footer has no kid", verifier.ErrMalformed), errcode.Unauthorized,
			`Bearer realm="tokend", error="invalid_token"`},
		{"a revoked token", verifier.ErrRevoked, errcode.Unauthorized, `Bearer realm="tokend", error="invalid_token"`},
		{"a token lacking a scope", &verifier.ScopeError{Required: []string{"customers"}, Missing: []string{"customers"}},
			errcode.Forbidden, `Bearer realm="tokend", error="insufficient_scope", scope="customers"`},
		{"a token used from elsewhere", verifier.ErrSourceIP, errcode.Forbidden,
			`Bearer realm="tokend", error="insufficient_scope", scope="customers"`},
		{"stale revocation state", verifier.ErrStale, errcode.Unavailable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is "+string(tt.code), func(t *testing.T) {
			w := httptest.NewRecorder()
			verifier.WriteError(w, tt.err, []string{"customers"})
			if w.Code != tt.code.Status() {
				t.Fatalf("status %d, want %d", w.Code, tt.code.Status())
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Fatalf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
			if got := w.Header().Get("Content-Type"); got != "application/vnd.api+json" {
				t.Fatalf("Content-Type %q", got)
			}
			var doc struct {
				Errors []map[string]string `json:"errors"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || len(doc.Errors) != 1 {
				t.Fatalf("body %s: %v", w.Body, err)
			}
			e := doc.Errors[0]
			if e["status"] != fmt.Sprint(tt.code.Status()) || e["code"] != string(tt.code) || e["title"] != tt.code.Title() {
				t.Fatalf("error object %v, want status %d, code %s, title %q", e, tt.code.Status(), tt.code, tt.code.Title())
			}
			if e["detail"] == "" {
				t.Fatal("error object has no detail")
			}
		})
	}
}
