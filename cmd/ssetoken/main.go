// Command ssetoken prints an access token for sse-api, signed with the AccessSecret of a
// config file, for trying the service out with curl and for scripts:
//
//	go run ./cmd/ssetoken -uid alice -publish 'news:*' -subscribe 'news:*'
//	go run ./cmd/ssetoken -uid ops -subscribe '*' -presence '*' -admin
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/zeromicro/go-zero/core/conf"

	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/config"
)

func main() {
	configFile := flag.String("f", "etc/sse-api.yaml", "the service's config file (for Auth.AccessSecret)")
	uid := flag.String("uid", "", "the user id (claim uid)")
	pub := flag.String("publish", "", "comma-separated topic patterns the token may publish to")
	sub := flag.String("subscribe", "", "comma-separated topic patterns the token may subscribe to")
	presence := flag.String("presence", "", "comma-separated topic patterns whose present users the token may list")
	admin := flag.Bool("admin", false, "let the token disconnect users and revoke their tokens (claim admin)")
	ttl := flag.Duration("ttl", time.Hour, "how long the token is valid")
	flag.Parse()
	if *uid == "" {
		fmt.Fprintln(os.Stderr, "ssetoken: -uid is required")
		os.Exit(2)
	}
	var c config.Config
	conf.MustLoad(*configFile, &c, conf.UseEnv())
	claims := map[string]any{
		auth.ClaimUID:       *uid,
		auth.ClaimPublish:   split(*pub),
		auth.ClaimSubscribe: split(*sub),
	}
	if *presence != "" {
		claims[auth.ClaimPresence] = split(*presence)
	}
	if *admin {
		claims[auth.ClaimAdmin] = true
	}
	token, err := auth.NewTokens(c.Auth.AccessSecret).Sign(claims, time.Now().Add(*ttl))
	if err != nil {
		fmt.Fprintln(os.Stderr, "ssetoken:", err)
		os.Exit(1)
	}
	fmt.Println(token)
}

func split(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}
