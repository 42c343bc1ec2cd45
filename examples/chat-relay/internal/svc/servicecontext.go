// Code scaffolded by goctl. Safe to edit.
// goctl 1.10.2

package svc

import (
	"errors"
	"net"
	"net/http"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/rest"

	"github.com/sseapi/sse-api/examples/chat-relay/internal/answer"
	"github.com/sseapi/sse-api/examples/chat-relay/internal/config"
	"github.com/sseapi/sse-api/examples/chat-relay/internal/fakemodel"
	"github.com/sseapi/sse-api/examples/chat-relay/internal/middleware"
	"github.com/sseapi/sse-api/publish"
)

type ServiceContext struct {
	Config   config.Config
	AskLimit rest.Middleware
	Answers  *answer.Answerer

	rdb  redis.UniversalClient
	fake *http.Server // the built-in fake model, when Upstream.URL is empty
}

func NewServiceContext(c config.Config) (*ServiceContext, error) {
	s := &ServiceContext{Config: c}
	up := answer.Upstream{URL: c.Upstream.URL, APIKey: c.Upstream.APIKey, Model: c.Upstream.Model}
	if up.URL == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		s.fake = &http.Server{Handler: fakemodel.Handler{TokenDelay: c.Upstream.FakeTokenDelay}}
		go func() {
			if err := s.fake.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				logx.Errorf("fake model: %v", err)
			}
		}()
		up.URL = "http://" + ln.Addr().String() + "/v1/chat/completions"
	}
	// The same kind of client as sse-api's (a Cluster client for a Cluster): it decides
	// how events are announced, for both alike.
	s.rdb = redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: c.Redis.Addrs, MasterName: c.Redis.MasterName, Password: c.Redis.Password,
	})
	pub := publish.New(s.rdb, publish.Options{HistorySize: c.History.Size, HistoryTTL: c.History.TTL})
	s.Answers = answer.New(pub, up, c.Answers.Timeout, c.Answers.MaxRunning)
	s.AskLimit = middleware.NewAskLimitMiddleware(c.Answers.PerMinute).Handle
	return s, nil
}

// Close ends the answers in progress, each with its end event, then lets Redis go.
func (s *ServiceContext) Close() {
	s.Answers.Stop()
	if s.fake != nil {
		_ = s.fake.Close()
	}
	_ = s.rdb.Close()
}
