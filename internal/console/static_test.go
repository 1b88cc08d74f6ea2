package console_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/console"
)

// TestFilesKeepToTheRules reads the console's own files for what its
// Content-Security-Policy or its promise about tokens forbids, so that a
// change that would only break in a browser, or would store a token,
// fails here first: inline scripts, styles and event handlers, markup
// built from strings, code built from strings, and any browser storage.
func TestFilesKeepToTheRules(t *testing.T) {
	forbidden := []struct {
		pattern *regexp.Regexp
		why     string
	}{
		{regexp.MustCompile(`<script(\s[^>]*)?>[^<\s]`), "inline script"},
		{regexp.MustCompile(`<script(?:\s[^>]*)?>`), ""}, // checked below: must have src
		{regexp.MustCompile(`\sstyle\s*=`), "a style attribute"},
		{regexp.MustCompile(`<style`), "an inline style sheet"},
		{regexp.MustCompile(`\son[a-z]+\s*=\s*["']`), "an inline event handler"},
		{regexp.MustCompile(`\.style\b|setAttribute\(\s*['"]style`), "styles set from script (use classes)"},
		{regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write`), "markup built from strings"},
		{regexp.MustCompile(`\beval\(|new Function\(|setTimeout\(\s*['"]`), "code built from strings"},
		{regexp.MustCompile(`localStorage|sessionStorage|document\.cookie|indexedDB|caches\.`), "browser storage"},
		{regexp.MustCompile(`https?://`), "an outside address (the console works offline)"},
	}
	files := console.New()
	for _, name := range files.Names() {
		// The one address allowed is SVG's namespace, a name, not a place.
		body := strings.ReplaceAll(string(files.Body(name)), `xmlns="http://www.w3.org/2000/svg"`, "")
		for _, f := range forbidden {
			if f.why == "" {
				for _, tag := range f.pattern.FindAllString(body, -1) {
					if !strings.Contains(tag, "src=") {
						t.Errorf("%s: a <script> without src: %s", name, tag)
					}
				}
				continue
			}
			if loc := f.pattern.FindStringIndex(body); loc != nil {
				line := strings.Count(body[:loc[0]], "\n") + 1
				t.Errorf("%s:%d: %s (%q)", name, line, f.why, body[loc[0]:loc[1]])
			}
		}
	}
}
