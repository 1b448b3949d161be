/**
 * The baseline for the gateway benchmark: express with the same JSON body parser, one POST route
 * that answers 201 at once. Whatever the gateway adds (auth, validation, Redis, Kafka acks=all)
 * shows as the distance from this.
 */
import express from 'express';

const app = express();
app.disable('x-powered-by');
app.post('/orders', express.json({ limit: 256 * 1024 }), (req, res) => {
  res.status(201).json({ accepted: typeof req.body === 'object' });
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const a = server.address();
  console.log(JSON.stringify({ msg: 'trivial listening', port: typeof a === 'object' && a ? a.port : 0 }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
