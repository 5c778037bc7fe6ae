//! Several processes sharing one Hessian, on MPI (the cargo feature `mpi`,
//! rsmpi over the system's OpenMPI or MPICH): `mpirun -n N hx-eigen ...`.
//!
//! Data parallelism, the way PyTorch's distributed data parallel does it for
//! gradients: each rank takes every N-th example of the Hessian's batch (or
//! of the whole split with `--full-dataset`), computes its size-weighted
//! share of each product, and one all-reduce (sum) of the vector makes the
//! full product on every rank ([`Shared`]). The solvers then run identically
//! on every rank (same seeds, same vectors), so only rank 0 writes tables.
//!
//! Without the feature, or when not launched by `mpirun`, the world is one
//! process and nothing here costs anything.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hessx_hessian::SymOp;

use crate::{Error, Result};

/// The processes of one job.
pub trait World {
    /// This process, `0..size`.
    fn rank(&self) -> usize;
    /// How many processes.
    fn size(&self) -> usize;
    /// Replace `values` on every rank by their element-wise sum over the ranks.
    fn sum_in_place(&self, values: &mut [f64]);
    /// Wait until every rank is here.
    fn barrier(&self);
    /// Stop every rank of the job with `code` (after a failure on this one).
    fn abort(&self, code: i32) -> !;
}

/// One process on its own.
struct Alone;

impl World for Alone {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn sum_in_place(&self, _values: &mut [f64]) {}
    fn barrier(&self) {}
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

thread_local! {
    // MPI is initialised at its default thread level: the thread that joined the job makes every
    // MPI call, so the handle lives there.
    static WORLD: RefCell<Option<Rc<dyn World>>> = const { RefCell::new(None) };
}

/// Ranks in the job, for threads that do not hold the handle (0: not joined).
static JOINED_SIZE: AtomicUsize = AtomicUsize::new(0);

/// The job this process belongs to (one process until [`init`] joins MPI).
/// Panics on a thread other than the one that joined an MPI job of several
/// ranks: products there would silently skip the all-reduce.
pub fn world() -> Rc<dyn World> {
    if let Some(w) = WORLD.with(|w| w.borrow().clone()) {
        return w;
    }
    assert!(
        JOINED_SIZE.load(Ordering::Relaxed) <= 1,
        "MPI calls must come from the thread that joined the job (the main thread)"
    );
    Rc::new(Alone)
}

/// Whether this process writes the tables (rank 0; the others compute the same numbers).
pub fn is_writer() -> bool {
    world().rank() == 0
}

/// How many processes `mpirun` (OpenMPI or MPICH's hydra) started, from the environment; `None`
/// when this process was not started by a launcher.
pub fn launched_size() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"].iter().find_map(|k| std::env::var(k).ok()?.parse().ok())
}

/// Join the MPI job when `mpirun` started this process with more than one
/// rank. `stage` names the binary for the error a build without the `mpi`
/// feature gives: N copies of one stage would each do the whole job and
/// write the same files.
pub fn init(stage: &str) -> Result<()> {
    let Some(size) = launched_size().filter(|&n| n > 1) else {
        return Ok(());
    };
    #[cfg(feature = "mpi")]
    {
        let _ = stage;
        let world = mpi_world::MpiWorld::initialize()?;
        if world.size() != size {
            return Err(Error::invalid(format!("MPI reports {} ranks, the launcher {size}", world.size())));
        }
        JOINED_SIZE.store(size, Ordering::Relaxed);
        WORLD.with(|w| *w.borrow_mut() = Some(Rc::new(world)));
        Ok(())
    }
    #[cfg(not(feature = "mpi"))]
    Err(Error::invalid(format!(
        "{stage} was started by mpirun with {size} processes, but this build has no MPI support: build it with \
         `just build-mpi` (cargo feature `mpi`), or run one process"
    )))
}

/// Refuse to run under `mpirun` with more than one process: for stages that
/// do not share their work over MPI (yet), where N copies would each do it all.
pub fn refuse_mpi(stage: &str, instead: &str) -> Result<()> {
    match launched_size() {
        Some(n) if n > 1 => Err(Error::invalid(format!("{stage} does not run under mpirun ({n} processes): {instead}"))),
        _ => Ok(()),
    }
}

/// Leave the MPI job: after a failure (`failed`) on one rank of several, stop
/// them all with its error already printed (the others would otherwise wait
/// in the next all-reduce for ever); otherwise finalise MPI.
pub fn finish(failed: bool) {
    {
        let world = world();
        if world.size() > 1 && failed {
            eprintln!("rank {} of {} failed: stopping the job", world.rank(), world.size());
            world.abort(1);
        }
    }
    #[cfg(feature = "mpi")]
    mpi_world::finalize();
}

/// A stage binary's `main` for stages that share their work over MPI: join
/// the job ([`init`]), log from rank 0 only (the others compute the same
/// things), run, and [`finish`] (stopping every rank when this one failed).
pub fn stage_main(stage: &str, run: impl FnOnce() -> anyhow::Result<()>) -> std::process::ExitCode {
    let mut failed = false;
    let code = hessx_profile::main_wrapper("info", || {
        let result = init(stage).map_err(anyhow::Error::from).and_then(|()| {
            if !is_writer() {
                hessx_profile::quiet();
            }
            run()
        });
        failed = result.is_err();
        result
    });
    finish(failed);
    code
}

/// A progress bar over `len` items for the whole job: drawn by rank 0, hidden on the others.
pub fn job_progress_bar(len: usize) -> indicatif::ProgressBar {
    if is_writer() { indicatif::ProgressBar::new(len as u64) } else { indicatif::ProgressBar::hidden() }
}

/// How the ranks of a job share independent pieces of work (robustness
/// cells, landscape shards) dynamically: a rank takes a piece by creating its
/// claim file `<dir>/.<name>.claim` (create-new is atomic on a shared file
/// system), so a free rank takes the next unclaimed piece and a slow one
/// holds nobody back. Rank 0 clears the claims of an earlier, killed job
/// before anyone claims; the piece's own files say whether it is done.
/// Outside MPI every piece is this process's.
pub struct Claims {
    dir: Option<PathBuf>,
}

impl Claims {
    /// Claims in `dir` when several ranks share the work (every rank calls this: it waits for all).
    pub fn open(dir: &Path) -> Result<Self> {
        if world().size() == 1 {
            return Ok(Claims { dir: None });
        }
        let io = |path: &Path, source| Error::Io { path: path.to_owned(), source };
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        if is_writer() {
            for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
                let path = entry.map_err(|e| io(dir, e))?.path();
                if path.extension().is_some_and(|e| e == "claim") {
                    std::fs::remove_file(&path).map_err(|e| io(&path, e))?;
                }
            }
        }
        world().barrier();
        Ok(Claims { dir: Some(dir.to_owned()) })
    }

    /// Whether this rank gets the piece called `name` (always, outside MPI).
    pub fn take(&self, name: &str) -> Result<bool> {
        let Some(dir) = &self.dir else {
            return Ok(true);
        };
        let path = dir.join(format!(".{name}.claim"));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(source) => Err(Error::Io { path, source }),
        }
    }
}

/// This rank's share of `indices`: every `size`-th one from position `rank`.
pub fn my_share(indices: &[usize]) -> Vec<usize> {
    let w = world();
    indices.iter().skip(w.rank()).step_by(w.size()).copied().collect()
}

/// A Hessian whose examples are spread over the ranks: `local` is this
/// rank's operator (the mean loss over its own examples), `weight` its share
/// of the examples, and a product is the all-reduced sum of the weighted
/// local products, the same full product on every rank.
pub struct Shared<O> {
    /// This rank's operator.
    pub local: O,
    weight: f64,
    /// Wall time spent in the all-reduce so far (host copies included).
    reduce_seconds: f64,
}

impl<O: SymOp> Shared<O> {
    /// Share `local` with the other ranks; `weight` is its share of the examples ([`share_weight`]).
    pub fn new(local: O, weight: f64) -> Self {
        Shared { local, weight, reduce_seconds: 0.0 }
    }

    /// Seconds spent combining products over the ranks (0 alone).
    pub fn reduce_seconds(&self) -> f64 {
        self.reduce_seconds
    }

    /// What the all-reduce cost per product next to the local product's
    /// `local_seconds` (for the log); `None` alone.
    pub fn reduce_note(&self, local_seconds: f64) -> Option<String> {
        let ranks = world().size();
        (ranks > 1).then(|| {
            let per = self.reduce_seconds / self.local.hvps().max(1) as f64;
            format!(
                "{ranks} ranks: the all-reduce took {per:.4} s a product, {:.1}% of a product's {:.3} s",
                100.0 * per / (local_seconds + per).max(1e-12),
                local_seconds + per
            )
        })
    }
}

/// This rank's weight in a sum of products: its share of the examples.
/// A rank without examples is an error (its operator would have no batch,
/// so this is checked before the operator is built).
pub fn share_weight(local_examples: usize, total_examples: usize) -> Result<f64> {
    if local_examples == 0 {
        return Err(Error::invalid(format!(
            "{} processes for {total_examples} examples: rank {} has none; run fewer processes or take the Hessian on more examples",
            world().size(),
            world().rank()
        )));
    }
    Ok(local_examples as f64 / total_examples as f64)
}

impl<O> std::ops::Deref for Shared<O> {
    type Target = O;
    fn deref(&self) -> &O {
        &self.local
    }
}

impl<O: SymOp> SymOp for Shared<O> {
    type V = O::V;

    fn dim(&self) -> usize {
        self.local.dim()
    }

    /// The full product: this rank's, all-reduced over the ranks.
    fn apply(&mut self, v: &O::V) -> hessx_hessian::Result<O::V> {
        let product = self.local.apply(v)?;
        if world().size() == 1 {
            return Ok(product);
        }
        // Host round trip in f64: the sum over ranks is then exact to f64 rounding, whatever the order.
        let t0 = std::time::Instant::now();
        let mut host = self.local.vector_to_host(&product);
        host.iter_mut().for_each(|x| *x *= self.weight);
        world().sum_in_place(&mut host);
        let combined = self.local.vector_from_host(&host);
        self.reduce_seconds += t0.elapsed().as_secs_f64();
        Ok(combined)
    }

    fn hvps(&self) -> u64 {
        self.local.hvps()
    }

    fn vector_from_host(&self, x: &[f64]) -> O::V {
        self.local.vector_from_host(x)
    }

    fn vector_to_host(&self, v: &O::V) -> Vec<f64> {
        self.local.vector_to_host(v)
    }
}

#[cfg(feature = "mpi")]
mod mpi_world {
    //! rsmpi behind [`World`], on the thread that joined the job.

    use std::cell::RefCell;

    use mpi::collective::SystemOperation;
    use mpi::topology::SimpleCommunicator;
    use mpi::traits::*;

    use super::World;
    use crate::{Error, Result};

    thread_local! {
        /// The universe, kept so that [`finalize`] can drop it (dropping it finalises MPI).
        static UNIVERSE: RefCell<Option<mpi::environment::Universe>> = const { RefCell::new(None) };
    }

    pub struct MpiWorld {
        comm: SimpleCommunicator,
    }

    impl MpiWorld {
        pub fn initialize() -> Result<Self> {
            let universe = mpi::initialize().ok_or_else(|| Error::invalid("MPI was already initialised"))?;
            let comm = universe.world();
            UNIVERSE.with(|u| *u.borrow_mut() = Some(universe));
            Ok(MpiWorld { comm })
        }
    }

    impl World for MpiWorld {
        fn rank(&self) -> usize {
            self.comm.rank() as usize
        }
        fn size(&self) -> usize {
            self.comm.size() as usize
        }
        fn sum_in_place(&self, values: &mut [f64]) {
            let local = values.to_vec();
            self.comm.all_reduce_into(&local[..], values, SystemOperation::sum());
        }
        fn barrier(&self) {
            self.comm.barrier();
        }
        fn abort(&self, code: i32) -> ! {
            self.comm.abort(code)
        }
    }

    pub fn finalize() {
        super::WORLD.with(|w| w.borrow_mut().take());
        UNIVERSE.with(|u| drop(u.borrow_mut().take()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hessx_hessian::DenseOp;

    #[test]
    fn alone_the_share_is_everything_and_products_pass_through() {
        assert_eq!(my_share(&[4, 2, 9]), [4, 2, 9]);
        assert!(is_writer());
        let dense = DenseOp::new(nalgebra::DMatrix::from_row_slice(2, 2, &[2.0, 1.0, 1.0, 3.0])).unwrap();
        let mut shared = Shared::new(dense, share_weight(3, 3).unwrap());
        let v = shared.vector_from_host(&[1.0, 0.0]);
        let product = shared.apply(&v).unwrap();
        assert_eq!(shared.vector_to_host(&product), [2.0, 1.0]);
        assert_eq!(shared.reduce_seconds(), 0.0, "alone, nothing is combined");
        assert!(share_weight(0, 3).unwrap_err().to_string().contains("rank 0 has none"));
    }
}
