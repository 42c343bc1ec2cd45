package types

// Statuses and encodings of responses that are not plain 200 JSON (see internal/respond).
// This file is written by hand; types.go beside it is generated from sse.api.

func (PublishResp) StatusCode() int { return 201 }

func (PublishBatchResp) StatusCode() int { return 201 }

func (TicketResp) StatusCode() int { return 201 }

func (QrSessionResp) StatusCode() int { return 201 }

func (i Image) Raw() (string, []byte) { return i.ContentType, i.Body }
