package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/ratelimit"
	"github.com/tokend/tokend/internal/secretscan"
	"github.com/tokend/tokend/internal/service"
	"github.com/tokend/tokend/pkg/errcode"
)

// secretScanningReports handles POST /secret-scanning/reports, where
// GitHub's secret scanning partner program sends the tokens it found in
// public: a JSON array of {token, type, url, source}, 1 to 1000 of them,
// in at most 1 MiB. With Config.SecretScanningKeys the report must be
// signed by one of them (401 otherwise, each counted as a failed
// authentication of the address); without, anyone may report, as anyone
// holding a token may revoke it (POST /revoke), and reports take from the
// address's bucket of revocations. Each reported token that is tokend's
// is revoked and marked leaked; the answer labels each one, in order,
// true_positive or false_positive.
func (s *Server) secretScanningReports(c echo.Context) error {
	if err := noQuery(c); err != nil {
		return err
	}
	ip, now, keys := clientIP(c), s.now(), s.cfg.SecretScanningKeys
	if keys == nil {
		if ok, retry := s.revokes.Take(ip, now); !ok {
			return rateLimitedf(retry, "Too many revocations from this address lately; try again in %d s.", ratelimit.RetryAfterSeconds(retry))
		}
	} else if ok, retry := s.authFailures.Check(ip, now); !ok {
		return rateLimitedf(retry, "Too many failed authentications from this address; try again in %d s.", ratelimit.RetryAfterSeconds(retry))
	}
	r := c.Request()
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return requestErrorf(errcode.UnsupportedMediaType, "A report's body must be application/json.")
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return apitoken.Errorf(apitoken.Invalid, "The request body could not be read.")
	}
	if keys != nil {
		if err := keys.Verify(r.Header.Get(secretscan.KeyIDHeader), r.Header.Get(secretscan.SignatureHeader), body); err != nil {
			s.authFailures.Take(ip, now)
			return apitoken.Errorf(apitoken.Unauthorized, "%s", signatureDetail(err))
		}
	}
	if err := strictJSON(body); err != nil {
		return err
	}
	reports, err := secretscan.ParseReports(body)
	if err != nil {
		return &apitoken.Error{Code: apitoken.Invalid, Pointer: "/", Detail: err.Error()}
	}
	leaks := make([]service.LeakReport, len(reports))
	for i, r := range reports {
		leaks[i] = service.LeakReport{Token: r.Token, Leak: apitoken.Leak{URL: r.URL, Source: r.Source}}
	}
	ours, err := s.svc.ReportLeaks(ctx(c), leaks)
	if err != nil {
		return err
	}
	answers := make([]secretscan.Answer, len(reports))
	for i, r := range reports {
		answers[i] = secretscan.Answer{TokenRaw: r.Token, TokenType: r.Type, Label: secretscan.FalsePositive}
		if ours[i] {
			answers[i].Label = secretscan.TruePositive
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return writeJSON(c, http.StatusOK, "application/json", answers)
}

// signatureDetail explains why a report's signature was refused.
func signatureDetail(err error) string {
	switch {
	case errors.Is(err, secretscan.ErrUnsigned):
		return "The report must be signed: send the " + secretscan.KeyIDHeader + " and " + secretscan.SignatureHeader + " headers."
	case errors.Is(err, secretscan.ErrUnknownKey):
		return "The report is signed by a key not in TOKEND_SECRET_SCANNING_KEYS."
	}
	return "The report's signature does not verify."
}
