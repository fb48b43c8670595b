//! Running chain steps from async handlers: each plugin is held only while its own hook runs.
//!
//! A [`Step`] asks for one hook call at a time. Before each call the request waits, without
//! blocking its worker thread, for a turn at that plugin: one turn per instance (one for a
//! plugin with a single shared instance, `pool` turns for a pooled one), so the instance is
//! never contended and a waiting request yields its thread to others. The turn is given back
//! as soon as the call returns; reading the output happens after. Two requests at different
//! plugins therefore run in parallel, and no request ever holds two plugins.
//!
//! A free turn goes to whoever asks first instead of being handed to the longest waiter: a
//! hand-off gives the instance to a task that may sit in a run queue behind many others while
//! the instance idles. Measured with two plugins that each burn ~50 µs (32 connections, 2
//! cores), a fair semaphore here ran no faster than one lock over every step (~6.8k req/s);
//! these turns reach ~10.5k. Waiters are woken in order as turns come back.
//!
//! Hooks of WASI plugins are called on the blocking thread pool (wasmtime-wasi enters a
//! Tokio runtime itself and must not run on an async worker thread); every other call runs
//! on the worker, where a few microseconds of wasm cost less than a thread hop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bifrost_wasm_chain::{Poll, RequestRun, Step};
use tokio::sync::{Mutex, Notify};

/// The turns at one plugin: as many as it has instances. Shared between the chains before and
/// after a reload for a plugin that was kept, so its instances are never over-booked.
pub(crate) struct Gate {
    free: AtomicUsize,
    returned: Notify,
}

impl Gate {
    /// A gate with `turns` turns (at least one).
    pub(crate) fn new(turns: usize) -> Self {
        Gate {
            free: AtomicUsize::new(turns.max(1)),
            returned: Notify::new(),
        }
    }

    fn try_take(&self) -> bool {
        let mut free = self.free.load(Ordering::Acquire);
        while free > 0 {
            match self
                .free
                .compare_exchange_weak(free, free - 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(now) => free = now,
            }
        }
        false
    }

    /// Takes a turn, waiting (asynchronously) while all are taken.
    async fn take(&self) -> Turn<'_> {
        loop {
            if self.try_take() {
                return Turn(self);
            }
            let returned = self.returned.notified();
            tokio::pin!(returned);
            // Registered before looking again, so a turn given back in between wakes us.
            returned.as_mut().enable();
            if self.try_take() {
                return Turn(self);
            }
            returned.await;
        }
    }
}

/// A turn at a plugin, given back on drop (which wakes the next waiter).
struct Turn<'a>(&'a Gate);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.free.fetch_add(1, Ordering::AcqRel);
        self.0.returned.notify_one();
    }
}

/// How the gateway takes turns at its plugins.
pub(crate) struct Turns {
    /// Per plugin, one turn per instance.
    gates: Vec<Arc<Gate>>,
    /// Per plugin: its hooks run on the blocking pool (WASI).
    blocking: Vec<bool>,
    /// One lock held for every whole step, all plugins at once: how the gateway ran before
    /// plugins were locked one at a time. Only for measuring the difference.
    serialized: Option<Mutex<()>>,
}

impl Turns {
    /// Turns for plugins with `instances[i]` instances each; `blocking[i]` for WASI plugins.
    #[cfg(test)]
    pub(crate) fn new(instances: &[usize], blocking: Vec<bool>, serialize_steps: bool) -> Self {
        let gates = instances.iter().map(|&n| Arc::new(Gate::new(n))).collect();
        Turns::with_gates(gates, blocking, serialize_steps)
    }

    /// Turns at these gates (one per plugin, in chain order); `blocking[i]` for WASI plugins.
    pub(crate) fn with_gates(gates: Vec<Arc<Gate>>, blocking: Vec<bool>, serialize_steps: bool) -> Self {
        Turns {
            gates,
            blocking,
            serialized: serialize_steps.then(|| Mutex::new(())),
        }
    }

    /// Runs `step` to its end for `run`, taking each plugin's turn only for its own call.
    pub(crate) async fn drive<S>(&self, mut run: RequestRun, mut step: S) -> (RequestRun, S::Output)
    where
        S: Step,
    {
        let _everything = match &self.serialized {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        loop {
            let call = match step.poll(&mut run) {
                Poll::Ready(output) => return (run, output),
                Poll::Call(call) => call,
            };
            let turn = self.gates[call.plugin].take().await;
            let result = if self.blocking[call.plugin] {
                let (back, result) = tokio::task::spawn_blocking(move || {
                    let result = run.call(call);
                    (run, result)
                })
                .await
                .expect("hook calls do not panic");
                run = back;
                result
            } else {
                run.call(call)
            };
            drop(turn);
            step.resume(&mut run, result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use bifrost_wasm_chain::{Chain, ChainPlugin, FailurePolicy, PreHooks, PreOutcome, RequestShape};
    use bifrost_wasm_host::{Hook, HookRunner, HostError};
    use bifrost_wasm_types::RawJson;

    /// Calls in flight, and the most at once.
    #[derive(Default)]
    struct Overlap {
        busy: AtomicUsize,
        most: AtomicUsize,
    }

    impl Overlap {
        fn enter(&self) {
            let now = self.busy.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
        }
        fn leave(&self) {
            self.busy.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// A plugin whose pre_hook takes a while; counts how its calls overlap, and how the calls
    /// of all plugins sharing `all` do.
    struct Slow {
        own: Overlap,
        all: Arc<Overlap>,
    }

    impl HookRunner for Slow {
        fn plugin_name(&self) -> &str {
            "slow"
        }
        fn implements(&self, hook: Hook) -> bool {
            hook == Hook::PreHook
        }
        fn call_hook(&self, _: Hook, input: &[u8]) -> Result<Option<String>, HostError> {
            self.own.enter();
            self.all.enter();
            std::thread::sleep(Duration::from_millis(20));
            self.all.leave();
            self.own.leave();
            let input = std::str::from_utf8(input).expect("UTF-8");
            let context = bifrost_wasm_types::scan::member(input, "context", true).expect("context");
            Ok(Some(format!(r#"{{"context":{context}}}"#)))
        }
    }

    async fn overlap(turns: Turns, plugins: Vec<Arc<Slow>>) -> Vec<usize> {
        let chain = Arc::new(Chain::new(
            plugins
                .iter()
                .map(|p| ChainPlugin::new("slow", FailurePolicy::Default, p.clone()))
                .collect(),
            RequestShape::Flat,
        ));
        let turns = Arc::new(turns);
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let (turns, chain) = (turns.clone(), chain.clone());
                tokio::spawn(async move {
                    let run = RequestRun::new(chain, &format!("r{i}"));
                    let request = RawJson::from_validated(r#"{"model":"m","input":[]}"#);
                    let (_, outcome) = turns.drive(run, PreHooks::new(request)).await;
                    assert!(matches!(outcome, PreOutcome::Continue(_)));
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        plugins
            .iter()
            .map(|p| p.own.most.load(Ordering::SeqCst))
            .collect()
    }

    fn slow(all: &Arc<Overlap>) -> Arc<Slow> {
        Arc::new(Slow {
            own: Overlap::default(),
            all: all.clone(),
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn every_waiter_gets_its_turns_and_no_more_than_one_holds_a_single_turn() {
        let gate = Arc::new(Gate::new(1));
        let holding = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (gate, holding) = (gate.clone(), holding.clone());
                tokio::spawn(async move {
                    for _ in 0..200 {
                        let _turn = gate.take().await;
                        assert_eq!(holding.fetch_add(1, Ordering::SeqCst), 0);
                        tokio::task::yield_now().await;
                        holding.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        let all = async {
            for task in tasks {
                task.await.unwrap();
            }
        };
        tokio::time::timeout(Duration::from_secs(60), all)
            .await
            .expect("no waiter is forgotten");
        assert_eq!(gate.free.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_instance_serves_one_call_at_a_time() {
        let all = Arc::new(Overlap::default());
        let most = overlap(Turns::new(&[1], vec![true], false), vec![slow(&all)]).await;
        assert_eq!(most, [1]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_pool_of_n_serves_n_calls_at_once() {
        let all = Arc::new(Overlap::default());
        let most = overlap(Turns::new(&[3], vec![true], false), vec![slow(&all)]).await;
        assert_eq!(most, [3]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn requests_at_different_plugins_run_at_the_same_time() {
        // Four requests through two one-instance plugins: while the second plugin serves one
        // request, the first serves the next.
        let all = Arc::new(Overlap::default());
        let most = overlap(
            Turns::new(&[1, 1], vec![true, true], false),
            vec![slow(&all), slow(&all)],
        )
        .await;
        assert_eq!(most, [1, 1]);
        assert_eq!(all.most.load(Ordering::SeqCst), 2);
        // Under one lock for every step, nothing overlaps.
        let all = Arc::new(Overlap::default());
        overlap(
            Turns::new(&[1, 1], vec![true, true], true),
            vec![slow(&all), slow(&all)],
        )
        .await;
        assert_eq!(all.most.load(Ordering::SeqCst), 1);
    }
}
