"""Raw-to-raw baselines: no mapping, and global calibrations between two cameras.

Registers three raw-to-raw methods (:mod:`ispengine.learning.raw_to_raw`):

* ``identity`` (:mod:`.identity`): camera A's normalised RAW taken as camera B's,
  the floor every mapping must beat;
* ``calibration_3x3`` and ``calibration_polynomial`` (:mod:`.global_fit`): one
  global 3×3 matrix, or one second-order polynomial, from camera A's RGB to camera
  B's, fitted on colour-chart patches rendered for both cameras
  (:mod:`.chart`) or on the pixels of paired anchor images. They are the "global
  3×3 calibration" and "global polynomial" rows of the comparison in
  "Generalizing ISP Model by Unsupervised Raw-to-raw Mapping" (ACM MM 2024,
  Table 1).
"""

from ispengine.core.hookspecs import hookimpl
from plugins_builtin.calibration.global_fit import Calibration3x3, CalibrationPolynomial
from plugins_builtin.calibration.identity import Identity


@hookimpl
def ispengine_register_raw_to_raw(register):
    register(Identity)
    register(Calibration3x3)
    register(CalibrationPolynomial)
