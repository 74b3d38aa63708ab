package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/clewtrace/clew/kit/kitamqp"
	"github.com/clewtrace/clew/kit/kitnats"
	"github.com/clewtrace/clew/kit/kitqueue"
)

// jobPublisher is what shipping needs from the queue.
type jobPublisher interface {
	publish(ctx context.Context, job emailJob) error
}

// jobQueue is a running broker connection: shipping publishes, the worker
// consumes, and close drains both.
type jobQueue interface {
	jobPublisher
	close(ctx context.Context) error
}

const (
	natsSubject      = "shop.email.confirmation"
	natsSubscription = "shop.email.*"
	amqpQueueName    = "shop.email.confirmation"
)

// natsQueue runs an embedded NATS server on a random loopback port, with one
// connection for shipping (producer) and one for the worker (consumer).
type natsQueue struct {
	srv      *server.Server
	pub, sub *nats.Conn
	producer *kitqueue.Messaging
	closed   chan struct{} // closed when the worker's connection has drained
}

var _ jobQueue = (*natsQueue)(nil)

func startNATS(shipping *telemetry, worker *workerService) (q *natsQueue, err error) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		return nil, fmt.Errorf("creating embedded NATS server: %w", err)
	}
	srv.Start()
	q = &natsQueue{srv: srv, producer: kitnats.New(shipping.queueOptions()...), closed: make(chan struct{})}
	defer func() {
		if err != nil {
			q.shutdownNow()
		}
	}()
	if !srv.ReadyForConnections(10 * time.Second) {
		return nil, errors.New("embedded NATS server did not start")
	}
	if q.pub, err = nats.Connect(srv.ClientURL(), nats.Name("shipping")); err != nil {
		return nil, fmt.Errorf("connecting shipping to NATS: %w", err)
	}
	q.sub, err = nats.Connect(srv.ClientURL(), nats.Name("worker"),
		nats.ClosedHandler(func(*nats.Conn) { close(q.closed) }))
	if err != nil {
		return nil, fmt.Errorf("connecting worker to NATS: %w", err)
	}
	consumer := kitnats.New(worker.tel.queueOptions()...)
	_, err = q.sub.QueueSubscribe(natsSubscription, "workers", kitnats.Handler(consumer, func(ctx context.Context, msg *nats.Msg) error {
		var job emailJob
		if err := json.Unmarshal(msg.Data, &job); err != nil {
			worker.tel.log.ErrorContext(ctx, "bad e-mail job", "error", err)
			return fmt.Errorf("decoding e-mail job: %w", err)
		}
		return worker.handle(ctx, job)
	}))
	if err != nil {
		return nil, fmt.Errorf("subscribing worker: %w", err)
	}
	if err := q.sub.Flush(); err != nil {
		return nil, fmt.Errorf("flushing worker subscription: %w", err)
	}
	return q, nil
}

func (q *natsQueue) publish(ctx context.Context, job emailJob) error {
	body, err := json.Marshal(job)
	if err != nil {
		return fmt.Errorf("encoding e-mail job: %w", err)
	}
	return kitnats.Publish(ctx, q.producer, q.pub, &nats.Msg{Subject: natsSubject, Data: body})
}

// close delivers what was published, lets the worker finish, then stops the
// server.
func (q *natsQueue) close(ctx context.Context) error {
	var errs []error
	if err := q.pub.FlushWithContext(ctx); err != nil {
		errs = append(errs, fmt.Errorf("flushing NATS publisher: %w", err))
	}
	if err := q.sub.Drain(); err != nil {
		errs = append(errs, fmt.Errorf("draining NATS worker: %w", err))
	} else {
		select {
		case <-q.closed:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("draining NATS worker: %w", ctx.Err()))
		}
	}
	q.shutdownNow()
	return errors.Join(errs...)
}

func (q *natsQueue) shutdownNow() {
	if q.pub != nil {
		q.pub.Close()
	}
	if q.sub != nil {
		q.sub.Close()
	}
	q.srv.Shutdown()
	q.srv.WaitForShutdown()
}

// amqpQueue uses RabbitMQ through the default exchange and one queue.
type amqpQueue struct {
	conn     *amqp.Connection
	pubMu    sync.Mutex // one publisher at a time on pubCh
	pubCh    *amqp.Channel
	subCh    *amqp.Channel
	producer *kitqueue.Messaging
	done     chan struct{} // closed when the consumer loop has returned
}

var _ jobQueue = (*amqpQueue)(nil)

func startAMQP(url string, shipping *telemetry, worker *workerService) (q *amqpQueue, err error) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return nil, fmt.Errorf("connecting to RabbitMQ: %w", err)
	}
	q = &amqpQueue{conn: conn, producer: kitamqp.New(shipping.queueOptions()...), done: make(chan struct{})}
	defer func() {
		if err != nil {
			_ = conn.Close()
		}
	}()
	if q.pubCh, err = conn.Channel(); err != nil {
		return nil, fmt.Errorf("opening RabbitMQ channel: %w", err)
	}
	if q.subCh, err = conn.Channel(); err != nil {
		return nil, fmt.Errorf("opening RabbitMQ channel: %w", err)
	}
	if _, err = q.subCh.QueueDeclare(amqpQueueName, true, false, false, false, nil); err != nil {
		return nil, fmt.Errorf("declaring queue %s: %w", amqpQueueName, err)
	}
	deliveries, err := q.subCh.Consume(amqpQueueName, "worker", false, false, false, false, nil)
	if err != nil {
		return nil, fmt.Errorf("consuming %s: %w", amqpQueueName, err)
	}
	consumer := kitamqp.New(worker.tel.queueOptions()...)
	go func() {
		defer close(q.done)
		for d := range deliveries {
			ctx, span := kitamqp.StartDelivery(context.Background(), consumer, &d)
			var job emailJob
			err := json.Unmarshal(d.Body, &job)
			if err == nil {
				err = worker.handle(ctx, job)
			} else {
				err = fmt.Errorf("decoding e-mail job: %w", err)
			}
			kitqueue.End(span, err)
			if aerr := d.Ack(false); aerr != nil {
				worker.tel.log.ErrorContext(ctx, "ack failed", "error", aerr)
			}
		}
	}()
	return q, nil
}

func (q *amqpQueue) publish(ctx context.Context, job emailJob) (err error) {
	body, err := json.Marshal(job)
	if err != nil {
		return fmt.Errorf("encoding e-mail job: %w", err)
	}
	pub := amqp.Publishing{ContentType: "application/json", Body: body}
	ctx, span := kitamqp.StartPublish(ctx, q.producer, "", amqpQueueName, &pub)
	defer func() { kitqueue.End(span, err) }()
	q.pubMu.Lock()
	defer q.pubMu.Unlock()
	if err := q.pubCh.PublishWithContext(ctx, "", amqpQueueName, false, false, pub); err != nil {
		return fmt.Errorf("publishing to %s: %w", amqpQueueName, err)
	}
	return nil
}

func (q *amqpQueue) close(ctx context.Context) error {
	var errs []error
	if err := q.subCh.Cancel("worker", false); err != nil {
		errs = append(errs, fmt.Errorf("cancelling consumer: %w", err))
	}
	select {
	case <-q.done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("waiting for the worker: %w", ctx.Err()))
	}
	if err := q.conn.Close(); err != nil && !errors.Is(err, amqp.ErrClosed) {
		errs = append(errs, fmt.Errorf("closing RabbitMQ connection: %w", err))
	}
	return errors.Join(errs...)
}
