// Code scaffolded by goctl from tpl/api/sse_logic.tpl. Safe to edit.
// goctl {{.version}}

package {{.pkgName}}

import (
	{{.imports}}
	"{{.projectPkg}}/internal/apierr"
	"{{.projectPkg}}/internal/auth"
	"{{.projectPkg}}/internal/stream"
)

type {{.logic}} struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

{{if .hasDoc}}{{.doc}}{{end}}
func New{{.logic}}(ctx context.Context, svcCtx *svc.ServiceContext) *{{.logic}} {
	return &{{.logic}}{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

// {{.function}} subscribes (an error returned before Subscribe succeeds reaches the client
// as a JSON error), then forwards events until the stream ends: the client leaves, the
// credential expires, the server shuts down.
func (l *{{.logic}}) {{.function}}(req *types.{{.function}}Req, s *stream.Stream) error {
	sub, err := s.Subscribe(func() (stream.Plan, error) { return l.plan(req, s) })
	if err != nil {
		return err
	}
	for {
		select {
		case <-l.ctx.Done():
			return nil
		case batch := <-sub.Events():
			if err := sub.Send(batch); err != nil {
				return err
			}
		}
	}
}

// plan authorizes the request and says what the stream reads. Subscribe runs it before the
// stream opens, on the request's goroutine.
func (l *{{.logic}}) plan(req *types.{{.function}}Req, s *stream.Stream) (stream.Plan, error) {
	grant, err := l.svcCtx.Access.Grant(l.ctx, s.Request())
	if err != nil {
		return stream.Plan{}, err
	}
	if !grant.Authenticated() {
		return stream.Plan{}, apierr.Unauthorized("this stream needs credentials")
	}
	// What the route streams: here the user's own topic; Plan checks the grant allows it.
	return l.svcCtx.Access.Plan(l.ctx, grant, []string{auth.UserTopic(grant.UID)})
}
