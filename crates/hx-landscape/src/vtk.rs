//! VTK PolyData (`.vtp`, ASCII XML) of a 2D surface for ParaView, as the
//! seed's `h52vtp.py`: one point per grid node with the loss as height
//! (clipped at `zmax`, or its log), one quad per grid cell, and the loss as
//! a point scalar for colouring.

use std::fmt::Write as _;

use crate::plots::{Field, PlotOptions};

/// The `.vtp` document of `field`, with heights transformed by `opts`.
pub fn vtp(field: &Field, name: &str, opts: &PlotOptions) -> String {
    let (nx, ny) = (field.xs.len(), field.ys.len());
    let z = |v: f64| {
        let v = opts.zmax.map_or(v, |m| v.min(m));
        if opts.log { (v + 0.1).ln() } else { v }
    };
    let mut points = String::new();
    let mut scalars = String::new();
    for (j, y) in field.ys.iter().enumerate() {
        for (i, x) in field.xs.iter().enumerate() {
            let v = field.values[j][i];
            let _ = writeln!(points, "{x} {y} {}", if v.is_finite() { z(v) } else { 0.0 });
            let _ = writeln!(scalars, "{}", if v.is_finite() { v } else { 0.0 });
        }
    }
    let mut conn = String::new();
    let mut offsets = String::new();
    let mut cells = 0;
    for j in 0..ny.saturating_sub(1) {
        for i in 0..nx.saturating_sub(1) {
            let a = j * nx + i;
            let _ = writeln!(conn, "{} {} {} {}", a, a + 1, a + 1 + nx, a + nx);
            cells += 1;
            let _ = writeln!(offsets, "{}", 4 * cells);
        }
    }
    format!(
        "<?xml version=\"1.0\"?>\n<VTKFile type=\"PolyData\" version=\"0.1\" byte_order=\"LittleEndian\">\n  <PolyData>\n    \
         <Piece NumberOfPoints=\"{np}\" NumberOfVerts=\"0\" NumberOfLines=\"0\" NumberOfStrips=\"0\" NumberOfPolys=\"{cells}\">\n      \
         <PointData Scalars=\"{name}\">\n        <DataArray type=\"Float64\" Name=\"{name}\" format=\"ascii\">\n{scalars}        </DataArray>\n      </PointData>\n      \
         <Points>\n        <DataArray type=\"Float64\" NumberOfComponents=\"3\" format=\"ascii\">\n{points}        </DataArray>\n      </Points>\n      \
         <Polys>\n        <DataArray type=\"Int64\" Name=\"connectivity\" format=\"ascii\">\n{conn}        </DataArray>\n        \
         <DataArray type=\"Int64\" Name=\"offsets\" format=\"ascii\">\n{offsets}        </DataArray>\n      </Polys>\n    </Piece>\n  </PolyData>\n</VTKFile>\n",
        np = nx * ny,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_2x3_grid_has_6_points_and_2_quads_with_clipped_heights() {
        let field = Field { xs: vec![0.0, 1.0, 2.0], ys: vec![0.0, 1.0], values: vec![vec![1.0, 2.0, 30.0], vec![4.0, 5.0, 6.0]] };
        let doc = vtp(&field, "train_loss", &PlotOptions { zmax: Some(10.0), ..Default::default() });
        assert!(doc.contains("NumberOfPoints=\"6\"") && doc.contains("NumberOfPolys=\"2\""));
        assert!(doc.contains("\n0 1 4 3\n") && doc.contains("\n1 2 5 4\n"), "{doc}");
        assert!(doc.contains("2 0 10\n"), "loss 30 is clipped to zmax 10 in the height");
        assert!(doc.contains("\n30\n"), "the scalar keeps the true loss");
    }
}
