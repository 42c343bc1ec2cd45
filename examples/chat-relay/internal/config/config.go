// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package config

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/zeromicro/go-zero/rest"
)

type Config struct {
	rest.RestConf
	// Redis is the Redis that sse-api reads: one address for a server, several for a
	// Cluster, with MasterName for Sentinel.
	Redis struct {
		Addrs      []string
		MasterName string `json:",optional"`
		Password   string `json:",optional"`
	}
	// History bounds each answer's topic as sse-api's Stream.HistorySize and HistoryTTL do:
	// use the same values. A page opened late reads the answer from its start only while
	// the history holds all of it (one event per token).
	History struct {
		Size int64         `json:",default=1000"`
		TTL  time.Duration `json:",default=1h"`
	}
	// EventsBase is sse-api's address as browsers reach it, such as http://localhost:8888.
	// sse-api must list this service's origin in its CorsOrigins (another origin) and
	// chat:* in its Topics.Public.
	EventsBase string
	Upstream   struct {
		// URL of an OpenAI-compatible chat completions endpoint; empty: the built-in fake
		// model (internal/fakemodel), served on a loopback port of its own.
		URL    string `json:",optional"`
		APIKey string `json:",optional"`
		Model  string `json:",default=fake-counter"`
		// FakeTokenDelay is the fake model's pause between tokens.
		FakeTokenDelay time.Duration `json:",default=40ms"`
	}
	Answers struct {
		// Timeout bounds one answer, upstream request included.
		Timeout time.Duration `json:",default=2m"`
		// MaxQuestion bounds a question, in characters.
		MaxQuestion int `json:",default=2000"`
		// MaxRunning bounds the answers in progress at once on this instance.
		MaxRunning int `json:",default=100"`
		// PerMinute bounds the questions of one client address.
		PerMinute int `json:",default=20"`
	}
}

// Validate refuses settings the service cannot work with, naming the key.
func (c Config) Validate() error {
	if len(c.Redis.Addrs) == 0 {
		return errors.New("Redis.Addrs: name the Redis that sse-api reads")
	}
	u, err := url.Parse(c.EventsBase)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("EventsBase: %q is not an http(s) URL of sse-api", c.EventsBase)
	}
	if c.Upstream.URL != "" {
		if u, err := url.Parse(c.Upstream.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("Upstream.URL: %q is not an http(s) URL", c.Upstream.URL)
		}
	}
	if c.History.Size < 1 || c.History.TTL <= 0 {
		return errors.New("History.Size and History.TTL must be positive")
	}
	if c.Answers.Timeout <= 0 || c.Answers.MaxQuestion < 1 || c.Answers.MaxRunning < 1 || c.Answers.PerMinute < 1 {
		return errors.New("Answers.Timeout, Answers.MaxQuestion, Answers.MaxRunning and Answers.PerMinute must be positive")
	}
	return nil
}
