// Package fakemodel is a stand-in for an LLM API: an OpenAI-style chat completions endpoint
// that streams its answer ("stream": true) as Server-Sent Events, one token at a time,
// ending with "data: [DONE]". It counts: asked "count to 40", it answers
// "Counting to 40: 1, 2, ..., 40." A question containing "fail" breaks off halfway, as an
// upstream that dies mid-answer.
package fakemodel

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Model is the model name the fake answers as.
const Model = "fake-counter"

// DefaultCount is how far it counts when the question names no number; MaxCount bounds it.
const (
	DefaultCount = 20
	MaxCount     = 500
)

// Tokens are the tokens of the answer to question, in order.
func Tokens(question string) []string {
	n := DefaultCount
	if m := firstNumber.FindString(question); m != "" {
		if v, err := strconv.Atoi(m); err == nil {
			n = min(max(v, 1), MaxCount)
		}
	}
	tokens := []string{"Counting", " to", " " + strconv.Itoa(n) + ":"}
	for i := 1; i < n; i++ {
		tokens = append(tokens, " "+strconv.Itoa(i)+",")
	}
	return append(tokens, " "+strconv.Itoa(n)+".")
}

// Fails reports whether the answer to question breaks off halfway.
func Fails(question string) bool { return strings.Contains(strings.ToLower(question), "fail") }

var firstNumber = regexp.MustCompile(`[0-9]{1,6}`)

// Handler serves POST /v1/chat/completions, streaming each token TokenDelay after the
// one before.
type Handler struct {
	TokenDelay time.Duration
}

type request struct {
	Model    string `json:"model"`
	Stream   bool   `json:"stream"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
}

type chunk struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []choice `json:"choices"`
}

type choice struct {
	Index        int     `json:"index"`
	Delta        delta   `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}

type delta struct {
	Role    string `json:"role,omitempty"`
	Content string `json:"content,omitempty"`
}

func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, `{"error":{"message":"POST only"}}`, http.StatusMethodNotAllowed)
		return
	}
	var req request
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || !req.Stream || len(req.Messages) == 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"message":"want {\"stream\": true, \"messages\": [...]}"}}`)
		return
	}
	question := req.Messages[len(req.Messages)-1].Content
	tokens := Tokens(question)
	fails := Fails(question)

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	id := make([]byte, 12)
	_, _ = rand.Read(id)
	c := chunk{ID: "chatcmpl-" + hex.EncodeToString(id), Object: "chat.completion.chunk", Created: time.Now().Unix(), Model: Model}
	send := func(d delta, finish *string) bool {
		c.Choices = []choice{{Delta: d, FinishReason: finish}}
		b, _ := json.Marshal(c) // plain structs always marshal
		if _, err := w.Write(append(append([]byte("data: "), b...), '\n', '\n')); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(delta{Role: "assistant"}, nil) {
		return
	}
	timer := time.NewTimer(h.TokenDelay)
	defer timer.Stop()
	for i, t := range tokens {
		if fails && i == len(tokens)/2 {
			return // the connection ends without [DONE]
		}
		timer.Reset(h.TokenDelay)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			return
		}
		if !send(delta{Content: t}, nil) {
			return
		}
	}
	stop := "stop"
	if send(delta{}, &stop) {
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
		_ = rc.Flush()
	}
}
