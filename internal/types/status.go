package types

// Statuses of responses that are not a plain 200 (see internal/respond). This file is
// written by hand; types.go beside it is generated.

func (PublishResp) StatusCode() int { return 201 }

func (TicketResp) StatusCode() int { return 201 }
