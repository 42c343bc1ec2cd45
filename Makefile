# sse-api: `make run` serves on :8888 with an embedded Redis; `make test` runs every check.
.PHONY: run test gen gen-check token

run:
	go run . -f etc/sse-api.yaml

test:
	tools/test.sh

# Regenerate handlers and types from sse.api and the templates in tpl/, and the
# chat-relay example's from its chat.api.
gen:
	tools/gen.sh
	examples/chat-relay/gen.sh

# Fail if regenerating would change anything.
gen-check:
	tools/gen.sh check
	examples/chat-relay/gen.sh check

# A token for trying the API: make token UID=alice PUB='news:*' SUB='news:*'
token:
	@go run ./cmd/ssetoken -uid "$(UID)" -publish "$(PUB)" -subscribe "$(SUB)"
