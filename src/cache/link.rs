//! A live connection to Redis, whichever the topology: one server (through a manager that
//! reconnects by itself) or a cluster (routed by slot). It speaks the commands the shared
//! cache sends, and the two the topologies answer differently: publishing where every
//! replica listens, and a bump of generations announced with its publication.

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

/// A live connection, cheap to clone (every clone shares the same socket or sockets).
#[derive(Clone)]
pub enum Link {
    /// One server; the manager reconnects to the same address after a drop.
    Node(ConnectionManager),
    /// Every primary of a cluster, routed by slot.
    Cluster(ClusterConnection),
}

impl Link {
    /// `PUBLISH`: on one server, there; in a cluster, on the primary of `bus`'s slot, where
    /// every replica subscribes, so that the count is every replica's.
    pub async fn publish(&mut self, channel: &str, message: &str, bus: &str) -> RedisResult<usize> {
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(channel).arg(message);
        match self {
            Self::Node(connection) => publish.query_async(connection).await,
            Self::Cluster(connection) => {
                let route = Route::with_key(bus, SlotAddr::Master);
                let answer = connection
                    .route_command(
                        publish,
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)),
                    )
                    .await?;
                Ok(redis::from_redis_value(answer)?)
            }
        }
    }

    /// Runs `bump` (an atomic pipeline whose results are ignored) and publishes `message` on
    /// `channel`; how many subscribers heard it. On one server both go in one transaction; in
    /// a cluster the publication follows the bump (they live on different nodes), which keeps
    /// the order readers rely on: the generation moves before anyone drops its entry.
    pub async fn announce(
        &mut self,
        bump: &Pipeline,
        channel: &str,
        message: &str,
    ) -> RedisResult<usize> {
        if let Self::Node(connection) = self {
            let mut transaction = bump.clone();
            transaction.publish(channel, message);
            let (listeners,): (usize,) = transaction.query_async(connection).await?;
            return Ok(listeners);
        }
        bump.query_async::<()>(self).await?;
        self.publish(channel, message, channel).await
    }
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Node(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Node(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Node(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

/// The primary's `(host, port)` in a `CLUSTER SLOTS` answer for `slot`: a list of
/// `[first, last, [host, port, id…], replicas…]`.
pub(super) fn primary_of_slot(slots: &Value, slot: i64) -> Option<(String, u16)> {
    let Value::Array(ranges) = slots else {
        return None;
    };
    ranges.iter().find_map(|range| {
        let Value::Array(fields) = range else {
            return None;
        };
        let (Some(Value::Int(first)), Some(Value::Int(last)), Some(Value::Array(primary))) =
            (fields.first(), fields.get(1), fields.get(2))
        else {
            return None;
        };
        if !(*first..=*last).contains(&slot) {
            return None;
        }
        let host = match primary.first()? {
            Value::BulkString(host) => String::from_utf8(host.clone()).ok()?,
            Value::SimpleString(host) => host.clone(),
            _ => return None,
        };
        let Some(Value::Int(port)) = primary.get(1) else {
            return None;
        };
        Some((host, u16::try_from(*port).ok()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    fn range(first: i64, last: i64, host: &str, port: i64) -> Value {
        Value::Array(vec![
            Value::Int(first),
            Value::Int(last),
            Value::Array(vec![bulk(host), Value::Int(port), bulk("id")]),
            Value::Array(vec![bulk("replica"), Value::Int(1), bulk("id2")]),
        ])
    }

    #[test]
    fn the_primary_serving_a_slot_is_found_in_cluster_slots() {
        let slots = Value::Array(vec![
            range(0, 5460, "10.0.0.1", 7000),
            range(5461, 10922, "10.0.0.2", 7001),
            range(10923, 16383, "10.0.0.3", 7002),
        ]);
        assert_eq!(
            primary_of_slot(&slots, 5461),
            Some(("10.0.0.2".to_owned(), 7001))
        );
        assert_eq!(
            primary_of_slot(&slots, 16383),
            Some(("10.0.0.3".to_owned(), 7002))
        );
        assert_eq!(primary_of_slot(&Value::Array(Vec::new()), 1), None);
    }
}
