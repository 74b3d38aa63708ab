package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite", pure Go
)

// ordersService keeps orders in an embedded SQLite database and books
// shipping for new ones.
type ordersService struct {
	tel         *telemetry
	db          *tracedDB
	client      *http.Client
	shippingURL string
}

type order struct {
	ID        int64     `json:"id"`
	User      string    `json:"user"`
	Item      string    `json:"item"`
	Quantity  int       `json:"quantity"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

type newOrderRequest struct {
	User     string `json:"user"`
	Item     string `json:"item"`
	Quantity int    `json:"quantity"`
}

type placedOrder struct {
	ID       int64  `json:"id"`
	Status   string `json:"status"`
	Tracking string `json:"tracking"`
}

type trackingInfo struct {
	OrderID  int64  `json:"order_id"`
	Item     string `json:"item"`
	Status   string `json:"status"`
	Tracking string `json:"tracking"`
	Location string `json:"location"`
	ETA      string `json:"eta"`
}

// openOrdersDB opens an in-memory SQLite database and seeds it. One
// connection, kept open for the process lifetime: every connection to
// ":memory:" would otherwise be a separate, empty database.
func openOrdersDB(ctx context.Context, tel *telemetry) (*tracedDB, error) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		return nil, fmt.Errorf("opening sqlite: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	tdb := &tracedDB{db: db, tracer: tel.tracer(), system: "sqlite", namespace: "shop"}

	// Seeding is traced too, under its own root span.
	ctx, span := tel.tracer().Start(ctx, "seed orders database")
	err = seed(ctx, tdb)
	endSpan(span, err)
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return tdb, nil
}

func seed(ctx context.Context, db *tracedDB) error {
	if _, err := db.Exec(ctx, `CREATE TABLE orders (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		user TEXT NOT NULL,
		item TEXT NOT NULL,
		quantity INTEGER NOT NULL,
		status TEXT NOT NULL,
		tracking TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("creating schema: %w", err)
	}
	if _, err := db.Exec(ctx, `CREATE INDEX orders_user ON orders(user, id)`); err != nil {
		return fmt.Errorf("creating index: %w", err)
	}
	items := []string{"teapot", "kettle", "mug", "tea towel", "sugar bowl", "milk jug", "strainer"}
	statuses := []string{"delivered", "delivered", "shipped", "shipping booked"}
	now := time.Now()
	for i, u := range seededUsers() {
		for j := range 3 {
			k := i*3 + j
			_, err := db.Exec(ctx, `INSERT INTO orders (user, item, quantity, status, tracking, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
				u, items[k%len(items)], 1+k%3, statuses[k%len(statuses)], fmt.Sprintf("PX%06d", 100000+k),
				now.Add(-time.Duration(k+1)*36*time.Hour).Unix())
			if err != nil {
				return fmt.Errorf("seeding orders: %w", err)
			}
		}
	}
	return nil
}

// seededUsers have orders from the start (the page suggests the first few;
// load mode uses them all). Anyone else can log in too.
func seededUsers() []string {
	users := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
	for i := range 32 {
		users = append(users, fmt.Sprintf("customer%02d", i))
	}
	return users
}

func (s *ordersService) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{user}/orders", s.list)
	mux.HandleFunc("POST /orders", s.create)
	mux.HandleFunc("GET /orders/{id}/tracking", s.tracking)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	return s.tel.middleware()(mux)
}

func scanOrder(rows *sql.Rows, o *order, tracking *string) error {
	var created int64
	if err := rows.Scan(&o.ID, &o.User, &o.Item, &o.Quantity, &o.Status, tracking, &created); err != nil {
		return err
	}
	o.CreatedAt = time.Unix(created, 0).UTC()
	return nil
}

func (s *ordersService) list(w http.ResponseWriter, r *http.Request) {
	orders := []order{}
	err := s.db.Query(r.Context(),
		`SELECT id, user, item, quantity, status, tracking, created_at FROM orders WHERE user = ? ORDER BY id DESC LIMIT 20`,
		func(rows *sql.Rows) error {
			var o order
			var tracking string
			if err := scanOrder(rows, &o, &tracking); err != nil {
				return err
			}
			orders = append(orders, o)
			return nil
		}, r.PathValue("user"))
	if err != nil {
		fail(w, r, s.tel.log, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, orders)
}

func (s *ordersService) create(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req newOrderRequest
	if err := decodeBody(r, &req); err != nil {
		fail(w, r, s.tel.log, http.StatusBadRequest, err)
		return
	}
	res, err := s.db.Exec(ctx, `INSERT INTO orders (user, item, quantity, status, created_at) VALUES (?, ?, ?, 'new', ?)`,
		req.User, req.Item, req.Quantity, time.Now().Unix())
	if err != nil {
		fail(w, r, s.tel.log, http.StatusInternalServerError, err)
		return
	}
	id, err := res.LastInsertId()
	if err != nil {
		fail(w, r, s.tel.log, http.StatusInternalServerError, fmt.Errorf("reading order id: %w", err))
		return
	}
	var booked shipmentBooked
	in := bookShipmentRequest{OrderID: id, User: req.User, Item: req.Item}
	if err := callJSON(ctx, s.client, "shipping", http.MethodPost, s.shippingURL+"/shipments", "/shipments", nil, in, &booked); err != nil {
		// The order stays, marked, so support can retry the booking.
		if _, uerr := s.db.Exec(ctx, `UPDATE orders SET status = 'shipping failed' WHERE id = ?`, id); uerr != nil {
			err = errors.Join(err, uerr)
		}
		failUpstream(w, r, s.tel.log, err)
		return
	}
	if _, err := s.db.Exec(ctx, `UPDATE orders SET status = 'shipping booked', tracking = ? WHERE id = ?`, booked.Tracking, id); err != nil {
		fail(w, r, s.tel.log, http.StatusInternalServerError, err)
		return
	}
	s.tel.log.InfoContext(ctx, "order stored", "order", id, "tracking", booked.Tracking)
	writeJSON(w, http.StatusCreated, placedOrder{ID: id, Status: "shipping booked", Tracking: booked.Tracking})
}

func (s *ordersService) tracking(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	user := r.URL.Query().Get("user")
	query := `SELECT id, user, item, quantity, status, tracking, created_at FROM orders WHERE user = ? AND id = ?`
	args := []any{user, 0}
	if idText := r.PathValue("id"); idText == "latest" {
		query = `SELECT id, user, item, quantity, status, tracking, created_at FROM orders WHERE user = ? ORDER BY id DESC LIMIT 1`
		args = args[:1]
	} else {
		id, err := strconv.ParseInt(idText, 10, 64)
		if err != nil {
			fail(w, r, s.tel.log, http.StatusBadRequest, fmt.Errorf("order id %q: %w", idText, err))
			return
		}
		args[1] = id
	}
	var o order
	var tracking string
	found := false
	err := s.db.Query(ctx, query, func(rows *sql.Rows) error {
		found = true
		return scanOrder(rows, &o, &tracking)
	}, args...)
	if err != nil {
		fail(w, r, s.tel.log, http.StatusInternalServerError, err)
		return
	}
	if !found {
		fail(w, r, s.tel.log, http.StatusNotFound, errors.New("no such order"))
		return
	}
	info := trackingInfo{OrderID: o.ID, Item: o.Item, Status: o.Status, Tracking: tracking}
	if tracking != "" {
		var st shipmentStatus
		if err := callJSON(ctx, s.client, "shipping", http.MethodGet, s.shippingURL+"/shipments/"+url.PathEscape(tracking), "/shipments/{tracking}", nil, nil, &st); err != nil {
			failUpstream(w, r, s.tel.log, err)
			return
		}
		info.Location, info.ETA = st.Location, st.ETA
	}
	writeJSON(w, http.StatusOK, info)
}
