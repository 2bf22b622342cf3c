package sign

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/oauthflow"
)

// Sentinel errors of keyless signing's identity token.
var (
	// ErrNoToken: no OIDC identity token was given or could be obtained.
	ErrNoToken = errors.New("no OIDC identity token")
	// ErrToken: the token is not a JWT with the claims Fulcio needs.
	ErrToken = errors.New("bad OIDC identity token")
	// ErrTokenExpired: the token's exp is past.
	ErrTokenExpired = errors.New("OIDC identity token expired")
)

// Audience is the audience Sigstore's Fulcio accepts, which a CI provider
// is asked for.
const Audience = "sigstore"

// Environment variables a token is read from, as cosign reads them.
const (
	EnvIDToken             = "SIGSTORE_ID_TOKEN"
	EnvGitHubRequestURL    = "ACTIONS_ID_TOKEN_REQUEST_URL"
	EnvGitHubRequestToken  = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
	githubTokenMaxResponse = 1 << 20
)

// TokenSource returns an OIDC identity token each time it is called (a CI
// provider's tokens are short-lived: a long build asks again), and where it
// came from, for messages. It never returns the token in an error.
type TokenSource func(ctx context.Context) (token, from string, err error)

// TokenFrom chooses where keyless signing takes its identity token, in
// cosign's order: the file (--oidc-token), else $SIGSTORE_ID_TOKEN, else
// GitHub Actions' token service (ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN,
// set in a job with "id-token: write") asked for the audience "sigstore".
// getenv is os.Getenv in the CLI; client is the HTTP client for the
// GitHub request (nil: http.DefaultClient).
func TokenFrom(file string, getenv func(string) string, client *http.Client) (TokenSource, error) {
	switch {
	case file != "":
		return func(context.Context) (string, string, error) {
			data, err := os.ReadFile(file)
			if err != nil {
				return "", file, fmt.Errorf("%w: %v", ErrNoToken, err)
			}
			tok := strings.TrimSpace(string(data))
			if tok == "" {
				return "", file, fmt.Errorf("%w: %s is empty", ErrNoToken, file)
			}
			return tok, file, nil
		}, nil
	case getenv(EnvIDToken) != "":
		tok := strings.TrimSpace(getenv(EnvIDToken))
		return func(context.Context) (string, string, error) { return tok, "$" + EnvIDToken, nil }, nil
	case getenv(EnvGitHubRequestURL) != "" && getenv(EnvGitHubRequestToken) != "":
		reqURL, reqToken := getenv(EnvGitHubRequestURL), getenv(EnvGitHubRequestToken)
		if client == nil {
			client = http.DefaultClient
		}
		return func(ctx context.Context) (string, string, error) {
			return githubToken(ctx, client, reqURL, reqToken)
		}, nil
	}
	return nil, fmt.Errorf("%w: give --oidc-token FILE, set $%s, or run in GitHub Actions with the id-token: write permission ($%s and $%s)",
		ErrNoToken, EnvIDToken, EnvGitHubRequestURL, EnvGitHubRequestToken)
}

// githubToken asks GitHub Actions' token service for a token of audience
// "sigstore": GET the request URL with audience=sigstore added, the request
// token as a bearer, answer {"value": TOKEN}.
func githubToken(ctx context.Context, client *http.Client, reqURL, reqToken string) (string, string, error) {
	u, err := url.Parse(reqURL)
	if err != nil {
		return "", "$" + EnvGitHubRequestURL, fmt.Errorf("%w: $%s: %v", ErrNoToken, EnvGitHubRequestURL, err)
	}
	q := u.Query()
	q.Set("audience", Audience)
	u.RawQuery = q.Encode()
	from := "GitHub Actions (" + u.Host + u.Path + ")" // the query may hold secrets
	var last error
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return "", from, ctx.Err()
			case <-time.After(time.Duration(attempt) * time.Second):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return "", from, fmt.Errorf("%w from %s: %v", ErrNoToken, from, err)
		}
		req.Header.Set("Authorization", "bearer "+reqToken)
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			// A *url.Error quotes the whole URL, query included.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			last = err
			continue
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, githubTokenMaxResponse))
		resp.Body.Close()
		if err != nil {
			last = err
			continue
		}
		if resp.StatusCode >= 500 {
			last = fmt.Errorf("HTTP %s", resp.Status)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return "", from, fmt.Errorf("%w from %s: HTTP %s", ErrNoToken, from, resp.Status)
		}
		var payload struct {
			Value string `json:"value"`
		}
		if err := json.Unmarshal(body, &payload); err != nil || payload.Value == "" {
			return "", from, fmt.Errorf("%w from %s: the answer has no token (want JSON {\"value\": TOKEN})", ErrNoToken, from)
		}
		return payload.Value, from, nil
	}
	return "", from, fmt.Errorf("%w from %s: %v", ErrNoToken, from, last)
}

// Claims are what pgassemble reads from a token before Fulcio checks it:
// the subject it proves possession of its key for, and when it expires.
// They are not verified here; Fulcio verifies the token.
type Claims struct {
	Issuer  string
	Subject string // the email when the token has one (what Fulcio certifies), else sub
	Expiry  time.Time
}

// ParseToken reads a JWT's claims without verifying it (Fulcio does) and
// refuses one that expired at now or has no subject.
func ParseToken(tok string, now time.Time) (Claims, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return Claims{}, fmt.Errorf("%w: not a JWT (want three dot-separated parts, have %d)", ErrToken, len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return Claims{}, fmt.Errorf("%w: payload: %v", ErrToken, err)
	}
	var raw struct {
		Iss string   `json:"iss"`
		Exp *float64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return Claims{}, fmt.Errorf("%w: payload: %v", ErrToken, err)
	}
	sub, err := oauthflow.SubjectFromUnverifiedToken(payload)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrToken, err)
	}
	c := Claims{Issuer: raw.Iss, Subject: sub}
	if raw.Exp == nil {
		return c, fmt.Errorf("%w: no exp claim", ErrToken)
	}
	c.Expiry = time.Unix(int64(*raw.Exp), 0).UTC()
	if !now.Before(c.Expiry) {
		return c, fmt.Errorf("%w at %s (issuer %s, subject %s)", ErrTokenExpired, c.Expiry.Format(time.RFC3339), c.Issuer, c.Subject)
	}
	return c, nil
}
