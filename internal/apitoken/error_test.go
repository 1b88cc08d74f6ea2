package apitoken_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/tokend/tokend/internal/apitoken"
)

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"a code alone", &apitoken.Error{Code: apitoken.NotFound}, "not_found"},
		{"a code and a detail", apitoken.Errorf(apitoken.Conflict, "user %q exists", "a@b.c"), `conflict: user "a@b.c" exists`},
		{"a code, a detail and a cause", &apitoken.Error{Code: apitoken.Unavailable, Detail: "down", Err: io.EOF}, "unavailable: down: EOF"},
		{"a field error gains a final period", apitoken.FieldErrorf("scope", "scope %s", "is bad"), "invalid_value: scope is bad."},
		{"a field error keeps its own final period", apitoken.FieldErrorf("scope", "scope is bad."), "invalid_value: scope is bad."},
		{"a list joins its errors", apitoken.Errors{apitoken.FieldErrorf("a", "a is bad"), apitoken.FieldErrorf("b", "b is bad")},
			"invalid_value: a is bad.; invalid_value: b is bad."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Fatalf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("a field error is an invalid_value about the field", func(t *testing.T) {
		e := apitoken.FieldErrorf("resources/0/type", "bad")
		if e.Code != apitoken.Invalid || e.Field != "resources/0/type" || e.Pointer != "" || e.Parameter != "" {
			t.Fatalf("FieldErrorf = %+v", e)
		}
	})
	t.Run("an error unwraps to its cause", func(t *testing.T) {
		err := fmt.Errorf("context: %w", &apitoken.Error{Code: apitoken.Internal, Err: io.ErrUnexpectedEOF})
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatal("errors.Is does not find the cause")
		}
	})
}

func TestErrorsErr(t *testing.T) {
	var none apitoken.Errors
	if err := none.Err(); err != nil {
		t.Fatalf("empty list: Err() = %#v, want a nil error interface", err)
	}
	if err := (apitoken.Errors{}).Err(); err != nil {
		t.Fatalf("empty non-nil list: Err() = %#v, want nil", err)
	}
	one := apitoken.Errors{apitoken.FieldErrorf("a", "a")}
	var list apitoken.Errors
	if err := one.Err(); !errors.As(err, &list) || len(list) != 1 || list[0] != one[0] {
		t.Fatalf("Err() = %v, want the list itself", err)
	}
}

func TestErrorListAndErrorCode(t *testing.T) {
	notFound := apitoken.Errorf(apitoken.NotFound, "user not found")
	a, b := apitoken.FieldErrorf("a", "a"), &apitoken.Error{Code: apitoken.Conflict}
	plain := errors.New("connection reset by peer")

	tests := []struct {
		name     string
		err      error
		wantList apitoken.Errors // nil: one internal error wrapping err
		wantCode apitoken.Code
	}{
		{"one application error", notFound, apitoken.Errors{notFound}, apitoken.NotFound},
		{"a wrapped application error", fmt.Errorf("get user: %w", notFound), apitoken.Errors{notFound}, apitoken.NotFound},
		{"a list", apitoken.Errors{a, b}, apitoken.Errors{a, b}, apitoken.Invalid},
		{"a wrapped list", fmt.Errorf("validate: %w", apitoken.Errors{b, a}), apitoken.Errors{b, a}, apitoken.Conflict},
		{"a plain error", plain, nil, apitoken.Internal},
		{"a plain error wrapped", fmt.Errorf("query: %w", plain), nil, apitoken.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := apitoken.ErrorList(tt.err)
			if tt.wantList != nil {
				if len(got) != len(tt.wantList) {
					t.Fatalf("ErrorList = %v, want %v", got, tt.wantList)
				}
				for i := range got {
					if got[i] != tt.wantList[i] {
						t.Fatalf("ErrorList[%d] = %v, want %v", i, got[i], tt.wantList[i])
					}
				}
			} else {
				if len(got) != 1 || got[0].Code != apitoken.Internal || got[0].Detail != "Internal error." || got[0].Err != tt.err {
					t.Fatalf("ErrorList = %#v, want one internal error wrapping the original", got)
				}
				if !errors.Is(got[0], plain) {
					t.Fatal("the internal error does not unwrap to the original")
				}
			}
			if code := apitoken.ErrorCode(tt.err); code != tt.wantCode {
				t.Fatalf("ErrorCode = %q, want %q", code, tt.wantCode)
			}
		})
	}
	t.Run("no error has no code", func(t *testing.T) {
		if code := apitoken.ErrorCode(nil); code != "" {
			t.Fatalf("ErrorCode(nil) = %q, want empty", code)
		}
	})
}
