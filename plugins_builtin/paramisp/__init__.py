"""ParamISP: learned forward and inverse ISPs conditioned on camera parameters.

Importing this package does not import torch: the classes import it in their methods.

Source: W. Kim, G. Kim, J. Lee, S. Lee, S.-H. Baek, S. Cho, "ParamISP: Learned Forward
and Inverse ISPs using Camera Parameters", CVPR 2024.
"""
