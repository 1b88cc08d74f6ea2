// Package webhook is the domain of tokend's webhooks: the endpoints admins
// register, which events each receives, the signing secret and the
// Standard Webhooks signature of a delivery, the schedule of retries, and
// the guard that keeps deliveries away from private networks.
//
// It depends on no storage or transport; package store keeps webhooks and
// their outbox, package outbox delivers.
package webhook

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/audit"
)

// AllEvents is the events value that subscribes to every action.
const AllEvents = "*"

// Limits of a webhook's attributes.
const (
	MaxURLLength         = 2048
	MaxDescriptionLength = 255
	MaxEvents            = 100
)

// Webhook is an endpoint that receives audit events.
type Webhook struct {
	ID          string
	URL         string
	Events      []string
	Description string
	Enabled     bool
	// Failures counts the failed attempts since the last success; at the
	// configured limit the webhook is disabled.
	Failures  int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Matches reports whether the webhook receives events of the action.
func (w *Webhook) Matches(action string) bool {
	return slices.Contains(w.Events, AllEvents) || slices.Contains(w.Events, action)
}

// Request is a new webhook as a client asks for it.
type Request struct {
	URL         string
	Events      []string
	Description string
	// Enabled nil means true.
	Enabled *bool
}

// Update changes some of a webhook's attributes; nil leaves one as it is.
type Update struct {
	URL         *string
	Events      []string // nil leaves the events
	Description *string
	Enabled     *bool
}

// Validate checks a new webhook's attributes, reporting every problem, and
// returns the webhook they describe (without id or times). Whether the URL
// reaches a permitted address is the Guard's to say.
func (r Request) Validate() (Webhook, error) {
	var errs apitoken.Errors
	w := Webhook{Enabled: true}
	if err := checkURL(r.URL); err != nil {
		errs = append(errs, err)
	}
	w.URL = r.URL
	if r.Events == nil {
		errs = append(errs, apitoken.FieldErrorf("events", `events is required: a list of actions, or ["*"] for all`))
	} else if err := checkEvents(r.Events); err != nil {
		errs = append(errs, err)
	}
	w.Events = normalize(r.Events)
	if err := checkDescription(r.Description); err != nil {
		errs = append(errs, err)
	}
	w.Description = r.Description
	if r.Enabled != nil {
		w.Enabled = *r.Enabled
	}
	return w, errs.Err()
}

// Apply checks the update and applies it to w, reporting every problem and
// changing nothing if there is one. Enabling a webhook forgets its failures.
func (u Update) Apply(w *Webhook) error {
	var errs apitoken.Errors
	if u.URL != nil {
		if err := checkURL(*u.URL); err != nil {
			errs = append(errs, err)
		}
	}
	if u.Events != nil {
		if err := checkEvents(u.Events); err != nil {
			errs = append(errs, err)
		}
	}
	if u.Description != nil {
		if err := checkDescription(*u.Description); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	if u.URL != nil {
		w.URL = *u.URL
	}
	if u.Events != nil {
		w.Events = normalize(u.Events)
	}
	if u.Description != nil {
		w.Description = *u.Description
	}
	if u.Enabled != nil {
		if *u.Enabled && !w.Enabled {
			w.Failures = 0
		}
		w.Enabled = *u.Enabled
	}
	return nil
}

func checkURL(raw string) *apitoken.Error {
	if raw == "" {
		return apitoken.FieldErrorf("url", "url is required")
	}
	if len(raw) > MaxURLLength {
		return apitoken.FieldErrorf("url", "url must be at most %d characters", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return apitoken.FieldErrorf("url", "url must be an absolute http or https URL")
	}
	if u.User != nil {
		return apitoken.FieldErrorf("url", "url must not hold a user name or password")
	}
	if u.Fragment != "" {
		return apitoken.FieldErrorf("url", "url must not have a fragment")
	}
	return nil
}

func checkEvents(events []string) *apitoken.Error {
	if len(events) == 0 {
		return apitoken.FieldErrorf("events", `events must list at least one action, or "*" for all`)
	}
	if len(events) > MaxEvents {
		return apitoken.FieldErrorf("events", "events must list at most %d actions", MaxEvents)
	}
	for i, e := range events {
		if e != AllEvents && !audit.Known(audit.Action(e)) {
			names := make([]string, len(audit.Actions))
			for j, a := range audit.Actions {
				names[j] = string(a)
			}
			return &apitoken.Error{Code: apitoken.Invalid, Field: "events/" + strconv.Itoa(i),
				Detail: fmt.Sprintf("%q is not an action; events lists actions (%s), or is [\"*\"] for all.", e, strings.Join(names, ", "))}
		}
	}
	return nil
}

func checkDescription(d string) *apitoken.Error {
	if !utf8.ValidString(d) || utf8.RuneCountInString(d) > MaxDescriptionLength {
		return apitoken.FieldErrorf("description", "description must be at most %d characters", MaxDescriptionLength)
	}
	for _, r := range d {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return apitoken.FieldErrorf("description", "description must not contain control characters")
		}
	}
	return nil
}

// normalize sorts the events and drops repeats, so that a webhook's events
// read the same however they were sent.
func normalize(events []string) []string {
	out := slices.Clone(events)
	slices.Sort(out)
	return slices.Compact(out)
}

// SecretPrefix starts every webhook secret, as Standard Webhooks names it.
const SecretPrefix = "whsec_"

// secretSize is the number of random bytes of a secret: 256 bits, within
// the 24 to 64 bytes Standard Webhooks asks for.
const secretSize = 32

// NewSecret returns a new signing secret: the key itself and the form shown
// to the client once, SecretPrefix followed by the key in standard base64.
func NewSecret() (key []byte, shown string) {
	key = make([]byte, secretSize)
	if _, err := rand.Read(key); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return key, SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// SecretLabel is the label a webhook's secret is sealed under
// (keys.Sealer.SealSecret), binding the sealed secret to its webhook.
func SecretLabel(webhookID string) string { return "webhook " + webhookID }

// RedactURL returns the endpoint as the audit log records it: its scheme
// and host, and for the rest (the path and query, where many services put
// the endpoint's own secret) "/…" and a fingerprint, so that a change of
// it is seen and the secret is not.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	if (u.Path == "" || u.Path == "/") && u.RawQuery == "" {
		return u.Scheme + "://" + u.Host + "/"
	}
	sum := sha256.Sum256([]byte(raw))
	return u.Scheme + "://" + u.Host + "/… (sha256:" + hex.EncodeToString(sum[:6]) + ")"
}
