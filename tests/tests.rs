//! End-to-end tests: the stage binaries run on tiny data, the way a
//! researcher would chain them. Build the binaries first (`just test` does).

mod util;

mod families;
mod mpi;
mod pipeline;
mod profiles;
mod regression_density_weights;
mod regression_provenance;
mod regression_resume;
mod regression_sharpness;
mod regression_which;
mod torchvision;
