package recording

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config is where an S3Store keeps recordings.
type S3Config struct {
	Endpoint string // host[:port]
	Region   string // "": the server's default
	Bucket   string
	Prefix   string // "" or "a/b": objects are "<prefix>/<key>"
	Insecure bool   // plain HTTP (a server on a private network or loopback)
	// AccessKey and SecretKey sign the requests (signature version 4). Empty: they are
	// read from the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or
	// MINIO_ACCESS_KEY and MINIO_SECRET_KEY) or the AWS shared credentials file.
	AccessKey, SecretKey string
	// Transport is the HTTP transport; nil: minio-go's default.
	Transport http.RoundTripper
}

// S3Store keeps recordings in an S3-compatible object store, addressed path-style
// (https://endpoint/bucket/key), which every S3-compatible server serves.
type S3Store struct {
	c      *minio.Client
	bucket string
	prefix string
}

// NewS3Store returns a store on c's bucket. It does not contact the server.
func NewS3Store(c S3Config) (*S3Store, error) {
	creds := credentials.NewStaticV4(c.AccessKey, c.SecretKey, "")
	if c.AccessKey == "" {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{}, &credentials.EnvMinio{}, &credentials.FileAWSCredentials{},
		})
	}
	cl, err := minio.New(c.Endpoint, &minio.Options{
		Creds: creds, Secure: !c.Insecure, Region: c.Region, Transport: c.Transport,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("recording: s3 %s: %w", c.Endpoint, err)
	}
	return &S3Store{c: cl, bucket: c.Bucket, prefix: c.Prefix}, nil
}

func (s *S3Store) object(key string) (string, error) {
	if !fs.ValidPath(key) {
		return "", fs.ErrNotExist
	}
	if s.prefix == "" {
		return key, nil
	}
	return path.Join(s.prefix, key), nil
}

// Put implements Store: it uploads the file at path (and leaves it there).
func (s *S3Store) Put(ctx context.Context, key, file string) error {
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	// Signed headers with an unsigned payload and its Content-MD5, as minio-go sends
	// over TLS anyway: over plain HTTP it would stream aws-chunked signed chunks, which
	// some S3-compatible servers (s3rver) store as they came, chunk signatures and all.
	_, err = s.c.FPutObject(ctx, s.bucket, obj, file, minio.PutObjectOptions{
		ContentType: "audio/wav", DisableContentSha256: true, SendContentMd5: true,
	})
	if err != nil {
		return fmt.Errorf("upload %s to s3://%s/%s: %w", key, s.bucket, obj, err)
	}
	return nil
}

// notFound is an S3 error that says the object (or its bucket) is not there.
func notFound(err error) bool {
	switch minio.ToErrorResponse(err).Code {
	case minio.NoSuchKey, minio.NoSuchBucket, "NotFound":
		return true
	}
	return false
}

type s3Object struct {
	*minio.Object
	info minio.ObjectInfo
}

func (o s3Object) Size() int64        { return o.info.Size }
func (o s3Object) ModTime() time.Time { return o.info.LastModified }

// Open implements Store. The object is read as it is used: a Seek makes the next Read
// a ranged GET, so a range request of the API fetches only that range.
func (s *S3Store) Open(ctx context.Context, key string) (Object, error) {
	obj, err := s.object(key)
	if err != nil {
		return nil, err
	}
	o, err := s.c.GetObject(ctx, s.bucket, obj, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("s3://%s/%s: %w", s.bucket, obj, err)
	}
	info, err := o.Stat()
	if err != nil {
		o.Close()
		if notFound(err) {
			return nil, fs.ErrNotExist
		}
		return nil, fmt.Errorf("s3://%s/%s: %w", s.bucket, obj, err)
	}
	return s3Object{o, info}, nil
}

// Exists says whether key's object is in the bucket.
func (s *S3Store) Exists(ctx context.Context, key string) (bool, error) {
	obj, err := s.object(key)
	if err != nil {
		return false, nil
	}
	_, err = s.c.StatObject(ctx, s.bucket, obj, minio.StatObjectOptions{})
	switch {
	case err == nil:
		return true, nil
	case notFound(err):
		return false, nil
	}
	return false, fmt.Errorf("s3://%s/%s: %w", s.bucket, obj, err)
}

// Delete implements Store; a missing object is not an error.
func (s *S3Store) Delete(ctx context.Context, key string) error {
	obj, err := s.object(key)
	if err != nil {
		return nil
	}
	if err := s.c.RemoveObject(ctx, s.bucket, obj, minio.RemoveObjectOptions{}); err != nil && !notFound(err) {
		return fmt.Errorf("delete s3://%s/%s: %w", s.bucket, obj, err)
	}
	return nil
}
