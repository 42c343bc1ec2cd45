package main

import (
	"encoding/json"
	"strings"
	"testing"
)

const goctlDoc = `{"swagger":"2.0","info":{"title":"t"},"x-date":"now","paths":{"/v1/x":{"post":{
	"schemes":["https"],"consumes":["application/x-www-form-urlencoded"],
	"responses":{"200":{"description":"","schema":{"type":"object"}}}}}}}`

func doc(t *testing.T) map[string]any {
	var d map[string]any
	if err := json.Unmarshal([]byte(goctlDoc), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestApply(t *testing.T) {
	d := doc(t)
	err := apply(d, overlay{Operations: map[string]operationPatch{"POST /v1/x": {
		Status: 201, Success: "made", Security: []string{"bearer"}, Errors: map[int]string{400: "bad"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(d)
	for _, want := range []string{`"201":{"description":"made"`, `"400":{"description":"Bad Request: bad","schema":{"$ref":"#/definitions/Error"}}`, `"security":[{"bearer":[]}]`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("lacks %s: %s", want, out)
		}
	}
	for _, gone := range []string{`"200"`, `x-date`, `schemes":["https"]`, `consumes`} {
		if strings.Contains(string(out), gone) {
			t.Errorf("still has %s: %s", gone, out)
		}
	}

	// A route the overlay lacks keeps goctl's answer.
	d = doc(t)
	if err := apply(d, overlay{}); err != nil {
		t.Errorf("a route without an overlay entry: %v", err)
	}
	if out, _ := json.Marshal(d); !strings.Contains(string(out), `"200"`) {
		t.Errorf("goctl's 200 is gone: %s", out)
	}

	for name, ops := range map[string]map[string]operationPatch{
		"stale":     {"POST /v1/x": {Status: 200, Success: "ok"}, "GET /v1/y": {Status: 200, Success: "ok"}},
		"no status": {"POST /v1/x": {Success: "ok"}},
		"bad error": {"POST /v1/x": {Status: 200, Success: "ok", Errors: map[int]string{200: "x"}}},
	} {
		if err := apply(doc(t), overlay{Operations: ops}); err == nil {
			t.Errorf("%s: applied", name)
		}
	}
}
