"""SSDNet (Zou, Zhang, "Learned Reverse ISP with Soft Supervision", ECCV 2022 workshops)."""
