package worker

import "gitvqa/model"

func modelOpen(dir string) (model.Source, func(), error) { return model.OpenCheckpoint(dir) }
