// Code scaffolded by goctl from tpl/api/sse_logic.tpl. Safe to edit.
// goctl {{.version}}

package {{.pkgName}}

import (
	{{.imports}}
	"{{.projectPkg}}/internal/ssewire"
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

// {{.function}} validates and authorizes first: an error returned before w.Open() reaches the
// client as a JSON error. Once open, it loops until the client leaves or the server shuts down.
func (l *{{.logic}}) {{.function}}(req *types.{{.function}}Req, w *ssewire.Writer) error {
	if err := w.Open(); err != nil {
		return err
	}
	for {
		select {
		case <-l.ctx.Done():
			return nil
		case <-w.Heartbeats():
			if err := w.Heartbeat(); err != nil {
				return err
			}
		}
	}
}
