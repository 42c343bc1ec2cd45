package demo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/rest"
	"github.com/zeromicro/go-zero/rest/httpx"

	"github.com/sseapi/sse-api/internal/apierr"
	"github.com/sseapi/sse-api/internal/keywatch"
	"github.com/sseapi/sse-api/publish"
)

// KeysPath is the route that writes a demo key with plain Redis commands, as a service that
// knows nothing of sse-api would, so that the console shows a watched key change.
const KeysPath = "/v1/demo/keys"

// KeyPrefix starts the only keys the demo writer writes.
const KeyPrefix = "demo:"

// maxKeyTTL bounds the TTL of a demo key.
const maxKeyTTL = 24 * time.Hour

// KeyReq writes a demo key: {"key": "demo:status", "value": {"step": 1}, "ttlSeconds": 60},
// or deletes it: {"key": "demo:status", "delete": true}. A state key is SET to the value (a
// JSON string as its text, any other value as its JSON); a stream key gets an entry (XADD)
// whose "data" field is the value, and whose "event" field is Event when given.
type KeyReq struct {
	Key        string          `json:"key"`
	Value      json.RawMessage `json:"value,omitempty"`
	Event      string          `json:"event,omitempty"`
	TTLSeconds int             `json:"ttlSeconds,omitempty"`
	Delete     bool            `json:"delete,omitempty"`
}

// KeyResp says what was run, as redis-cli would show it.
type KeyResp struct {
	Command string `json:"command"`
}

// KeyWriter writes demo keys.
type KeyWriter struct {
	rdb   redis.Cmdable
	rules keywatch.Rules
}

// NewKeyWriter writes demo keys to rdb, those the rules let be watched.
func NewKeyWriter(rdb redis.Cmdable, rules keywatch.Rules) *KeyWriter {
	return &KeyWriter{rdb: rdb, rules: rules}
}

// Handler answers POST KeysPath.
func (kw *KeyWriter) Handler(w http.ResponseWriter, r *http.Request) {
	var req KeyReq
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			httpx.ErrorCtx(r.Context(), w, err)
			return
		}
		httpx.ErrorCtx(r.Context(), w, apierr.BadRequest(`body must be {"key", "value", "ttlSeconds"} or {"key", "delete": true}`))
		return
	}
	resp, err := kw.Write(r, req)
	if err != nil {
		httpx.ErrorCtx(r.Context(), w, err)
		return
	}
	httpx.OkJsonCtx(r.Context(), w, resp)
}

// Write runs the command req asks for.
func (kw *KeyWriter) Write(r *http.Request, req KeyReq) (*KeyResp, error) {
	ctx := r.Context()
	if !strings.HasPrefix(req.Key, KeyPrefix) || !publish.ValidTopic(keywatch.TopicPrefix+req.Key) {
		return nil, apierr.BadRequest(fmt.Sprintf("the demo writes keys %s<name> only, name [A-Za-z0-9_.:-]", KeyPrefix))
	}
	rule := kw.rules.Match(req.Key)
	if rule < 0 {
		return nil, apierr.BadRequest("no Watch.Keys rule matches " + req.Key + ": nobody could watch it")
	}
	if req.Delete {
		if err := kw.rdb.Del(ctx, req.Key).Err(); err != nil {
			return nil, apierr.Internal(err)
		}
		return &KeyResp{Command: "DEL " + req.Key}, nil
	}
	if req.TTLSeconds < 0 || time.Duration(req.TTLSeconds)*time.Second > maxKeyTTL {
		return nil, apierr.BadRequest("ttlSeconds: 0 (none) up to a day")
	}
	value, err := textOf(req.Value)
	if err != nil {
		return nil, err
	}
	if kw.rules[rule].Kind == keywatch.KindStream {
		if req.Event != "" && !publish.ValidEvent(req.Event) {
			return nil, apierr.BadRequest("malformed event name: want [A-Za-z0-9_.:-]{1,64}")
		}
		fields := []any{"data", value}
		cmd := "XADD " + req.Key + " MAXLEN ~ 1000 * data " + strconv.Quote(value)
		if req.Event != "" {
			fields = append([]any{"event", req.Event}, fields...)
			cmd = "XADD " + req.Key + " MAXLEN ~ 1000 * event " + req.Event + " data " + strconv.Quote(value)
		}
		id, err := kw.rdb.XAdd(ctx, &redis.XAddArgs{Stream: req.Key, MaxLen: 1000, Approx: true, Values: fields}).Result()
		if err != nil {
			return nil, apierr.Internal(err)
		}
		return &KeyResp{Command: cmd + " -> " + id}, nil
	}
	ttl := time.Duration(req.TTLSeconds) * time.Second
	if err := kw.rdb.Set(ctx, req.Key, value, ttl).Err(); err != nil {
		return nil, apierr.Internal(err)
	}
	cmd := "SET " + req.Key + " " + strconv.Quote(value)
	if ttl > 0 {
		cmd += " EX " + strconv.Itoa(req.TTLSeconds)
	}
	return &KeyResp{Command: cmd}, nil
}

// textOf is what a JSON value is stored as: a string's text, anything else's JSON.
func textOf(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", apierr.BadRequest(`give a "value" (any JSON), or "delete": true`)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return "", apierr.BadRequest("value must be JSON")
	}
	return compact.String(), nil
}

// RegisterKeys adds the demo key writer to server. Call it only when Demo.Enabled is set
// (the embedded Redis, then).
func RegisterKeys(server *rest.Server, rdb redis.Cmdable, rules keywatch.Rules) {
	server.AddRoute(rest.Route{
		Method:  http.MethodPost,
		Path:    KeysPath,
		Handler: NewKeyWriter(rdb, rules).Handler,
	})
}
