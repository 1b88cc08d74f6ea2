package verifier

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/tokend/tokend/pkg/revfeed"
)

// maxFeedPage bounds the bytes of one page of the feed, decompressed: far
// more than a page of tokend's largest, in either form.
const maxFeedPage = 64 << 20

// feedPage is a page of the feed, in either form, as the verifier keeps
// it.
type feedPage struct {
	cursor string
	more   bool
	tokens []revocation
	// others are the tokens whose ids are not UUIDs, by id.
	others map[string]revocation
	users  []userState
}

type userState struct {
	sub      string
	disabled bool
}

// syncRevocations reads the revocation feed from the cursor to the end of
// the round and applies it. Pages are fetched and decoded one ahead of the
// page being applied, so that tokend reads the next page while this one is
// applied, on another core when one is free.
func (v *Verifier) syncRevocations(ctx context.Context) error {
	started := v.cfg.Now()
	v.mu.RLock()
	cursor := v.cursor
	v.mu.RUnlock()
	snapshot := cursor == ""
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan fetched, 1)
	go v.fetchPages(ctx, cursor, pages)
	for f := range pages {
		if f.err != nil {
			return f.err
		}
		page := f.page
		v.mu.Lock()
		for _, r := range page.tokens {
			v.revocations.put(r)
		}
		for jti, r := range page.others {
			v.revocations.putOther(jti, r)
		}
		for _, u := range page.users {
			if u.disabled {
				v.users[u.sub] = true
			} else {
				delete(v.users, u.sub)
			}
		}
		v.cursor = page.cursor
		if !page.more {
			v.syncedAt = started
		}
		v.mu.Unlock()
		// Only this goroutine changes the set, so it reads it unlocked.
		if v.revocations.full() || (!page.more && (snapshot || v.revocations.compactionDue(started, v.cfg.Leeway))) {
			m := v.revocations.merged(started, v.cfg.Leeway, !page.more)
			v.mu.Lock()
			v.revocations.install(m, started, v.cfg.Leeway)
			v.mu.Unlock()
		}
		if !page.more {
			return nil
		}
	}
	return ctx.Err()
}

// fetched is a page of the feed fetched ahead, or the error that ended
// the fetching.
type fetched struct {
	page *feedPage
	err  error
}

// fetchPages fetches the pages of the feed from the cursor on, and sends
// each to pages, until the last page of the round, an error or the end of
// ctx; then it closes pages.
func (v *Verifier) fetchPages(ctx context.Context, cursor string, pages chan<- fetched) {
	defer close(pages)
	for {
		page, err := v.fetchFeed(ctx, cursor)
		select {
		case pages <- fetched{page, err}:
		case <-ctx.Done():
			return
		}
		if err != nil || !page.more {
			return
		}
		cursor = page.cursor
	}
}

// fetchFeed fetches the page of the feed after the cursor. It asks for the
// compact form and for gzip, and reads the JSON form too, which an older
// tokend answers with.
func (v *Verifier) fetchFeed(ctx context.Context, cursor string) (*feedPage, error) {
	u := *v.base
	u.Path += "/revocations"
	if cursor != "" {
		u.RawQuery = url.Values{"cursor": {cursor}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", revfeed.MediaType+", application/json;q=0.5")
	// Set here, gzip is not undone by net/http's transport but below, so
	// that it works with any RoundTripper.
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("Authorization", "Bearer "+v.cfg.FeedToken)
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("tokend /revocations: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("tokend /revocations: %s%s", resp.Status, errorDetail(resp.Body))
	}
	body := io.Reader(resp.Body)
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("tokend /revocations: %w", err)
		}
		body = zr
	}
	body = io.LimitReader(body, maxFeedPage+1)
	var page *feedPage
	if ct := resp.Header.Get("Content-Type"); ct == revfeed.MediaType {
		page, err = readCompactFeed(body, resp.ContentLength)
	} else {
		page, err = readJSONFeed(body)
	}
	if err != nil {
		return nil, fmt.Errorf("tokend /revocations: %w", err)
	}
	return page, nil
}

// readCompactFeed reads a page of the compact form.
func readCompactFeed(body io.Reader, size int64) (*feedPage, error) {
	var buf bytes.Buffer
	buf.Grow(int(max(min(size, maxFeedPage), 512)))
	if _, err := buf.ReadFrom(body); err != nil {
		return nil, err
	}
	if buf.Len() > maxFeedPage {
		return nil, errors.New("page too large")
	}
	p, err := revfeed.Decode(buf.Bytes())
	if err != nil {
		return nil, err
	}
	page := &feedPage{cursor: p.Cursor, more: p.More, tokens: make([]revocation, len(p.Tokens)), users: make([]userState, len(p.Users))}
	for i, t := range p.Tokens {
		page.tokens[i] = newRevocation(t.Revoked, t.Enabled, t.Expiration, t.Exp)
		page.tokens[i].id = t.ID
	}
	for i, u := range p.Users {
		page.users[i] = userState{sub: tokenID(u.ID).String(), disabled: u.Disabled}
	}
	return page, nil
}

// readJSONFeed reads a page of the JSON form.
func readJSONFeed(body io.Reader) (*feedPage, error) {
	var doc struct {
		Cursor string `json:"cursor"`
		More   bool   `json:"more"`
		Tokens []struct {
			ID         string    `json:"jti"`
			Revoked    bool      `json:"revoked"`
			Enabled    bool      `json:"enabled"`
			Expiration time.Time `json:"expiration"`
			Exp        time.Time `json:"exp"`
		} `json:"tokens"`
		Users []struct {
			Subject  string `json:"sub"`
			Disabled bool   `json:"disabled"`
		} `json:"users"`
	}
	if err := json.NewDecoder(body).Decode(&doc); err != nil {
		return nil, err
	}
	page := &feedPage{cursor: doc.Cursor, more: doc.More, tokens: make([]revocation, 0, len(doc.Tokens)), users: make([]userState, len(doc.Users))}
	for _, t := range doc.Tokens {
		exp := t.Exp
		if exp.IsZero() {
			// A tokend too old to send the claim: the entry refuses the
			// token from its expiration on, and is kept until then.
			exp = t.Expiration.Add(time.Millisecond)
		}
		r := newRevocation(t.Revoked, t.Enabled, t.Expiration.UnixMilli(), exp.UnixMilli())
		if id, ok := parseTokenID(t.ID); ok {
			r.id = id
			page.tokens = append(page.tokens, r)
			continue
		}
		if page.others == nil {
			page.others = map[string]revocation{}
		}
		page.others[t.ID] = r
	}
	for i, u := range doc.Users {
		page.users[i] = userState{sub: u.Subject, disabled: u.Disabled}
	}
	return page, nil
}

// errorDetail returns ": " and the detail of the first error of a JSON:API
// error document, tokend's answer to a request it refuses, or "".
func errorDetail(body io.Reader) string {
	var doc struct {
		Errors []struct {
			Detail string `json:"detail"`
		} `json:"errors"`
	}
	b, _ := io.ReadAll(io.LimitReader(body, 64<<10))
	if json.Unmarshal(b, &doc) != nil || len(doc.Errors) == 0 || doc.Errors[0].Detail == "" {
		return ""
	}
	return ": " + doc.Errors[0].Detail
}
